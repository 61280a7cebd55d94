"""The twin's Transcribe: real jobs on real engines, driven and read back over boto3.

The ``aws`` fixture (conftest.py) gives one twin per module, reset before each test. The rows of
docs/fidelity.md have their contract tests in test_aws_contract.py; these cover the engines,
output locations, media failures, faults and quotas.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import jiwer
import pytest
from botocore.exceptions import ClientError
from whisper_normalizer.english import EnglishTextNormalizer

from emulation.transcribe.audio import FORMAT_MISMATCH, UNPARSEABLE
from emulation.transcribe.engines import Word
from emulation.transcribe.faults import INJECTED_FAILURE, FaultInjector, Faults
from emulation.transcribe.output import customer_output_location, transcript_document
from emulation.transcribe.storage import MEDIA_NOT_FOUND, parse_media_uri

if TYPE_CHECKING:
    from conftest import TranscribeAws as Aws

pytestmark = pytest.mark.speech

SAMPLE = Path(__file__).resolve().parents[3] / "corpus" / "sample"
HUMAN = Path("/usr/share/pocketsphinx/test/data/librivox")
REGION_URI = "https://s3.us-east-1.amazonaws.com"
_normalize = EnglishTextNormalizer()


def wer(pairs: list[tuple[str, str]]) -> float:
    """Micro-averaged WER (all errors / all reference words) after Whisper's normalizer."""
    errors = words = 0
    for reference, hypothesis in pairs:
        result = jiwer.process_words(_normalize(reference), _normalize(hypothesis))
        errors += result.substitutions + result.deletions + result.insertions
        words += len(_normalize(reference).split())
    return errors / words


# -- speech ---------------------------------------------------------------------------------


def test_whisper_transcribes_sample_clips_within_expected_wer(aws: Aws) -> None:
    clips = ["clip01_nightly_run.wav", "clip07_slow.wav", "clip08_british.ogg"]
    for clip in clips:
        aws.start(clip.split(".")[0], aws.upload(SAMPLE / clip), OutputKey=f"t/{clip}.json")
    pairs = []
    for clip in clips:
        job, _ = aws.wait(clip.split(".")[0])
        assert job["TranscriptionJobStatus"] == "COMPLETED"
        document = aws.transcript(job)
        reference = (SAMPLE / clip).with_suffix(".txt").read_text()
        pairs.append((reference, document["results"]["transcripts"][0]["transcript"]))
    # Measured 6/36 = 16.7% (espeak-ng speech; FACTS: 6.7%-15% on easier texts).
    assert wer(pairs) <= 0.30, pairs
    records = {record.name: record for record in aws.service.jobs}
    assert records["clip07_slow"].engine == "faster-whisper"
    assert records["clip07_slow"].audio_seconds == pytest.approx(5.11, abs=0.05)
    assert records["clip07_slow"].processing_seconds > 0


def test_transcript_has_amazons_shape_with_punctuation_items(aws: Aws) -> None:
    aws.start("shape", aws.upload(SAMPLE / "clip04_punctuation.wav"), OutputKey="shape.json")
    job, _ = aws.wait("shape")
    assert job["Transcript"]["TranscriptFileUri"] == f"{REGION_URI}/{aws.output_bucket}/shape.json"
    assert job["MediaFormat"] == "wav" and job["MediaSampleRateHertz"] == 16000
    document = aws.transcript(job)
    assert (document["jobName"], document["accountId"], document["status"]) == (
        "shape",
        "123456789012",
        "COMPLETED",
    )
    items = document["results"]["items"]
    words = [item for item in items if item["type"] == "pronunciation"]
    marks = [item for item in items if item["type"] == "punctuation"]
    assert len(words) >= 8 and marks, items
    for item in words:
        start, end = float(item["start_time"]), float(item["end_time"])
        assert 0 <= start <= end <= 5.69 + 0.1  # within the clip
        assert 0 <= float(item["alternatives"][0]["confidence"]) <= 1
        assert (
            item["alternatives"][0]["content"].strip(".,?!;:") == item["alternatives"][0]["content"]
        )
    for item in marks:
        assert "start_time" not in item
        assert item["alternatives"] == [
            {"confidence": "0.0", "content": item["alternatives"][0]["content"]}
        ]
        assert item["alternatives"][0]["content"] in ".,?!;:"
    text = document["results"]["transcripts"][0]["transcript"]
    assert "?" in text and not text.startswith(" ")
    assert [item["id"] for item in items] == list(range(len(items)))
    assert document["results"]["audio_segments"][0]["transcript"] == text


def test_pocketsphinx_engine_is_selectable(aws: Aws) -> None:
    aws.service.set_engine("pocketsphinx")
    clip = SAMPLE / "clip12_mp3_report.mp3"  # also the mp3 decoding path
    aws.start("sphinx", aws.upload(clip))
    job, _ = aws.wait("sphinx")
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["MediaFormat"] == "mp3"
    document = aws.transcript(job)
    assert {item["type"] for item in document["results"]["items"]} == {"pronunciation"}
    hypothesis = document["results"]["transcripts"][0]["transcript"]
    # Measured 7/14 = 50%; PocketSphinx is poor on synthetic speech (FACTS: 76-84%).
    assert wer([(clip.with_suffix(".txt").read_text(), hypothesis)]) <= 0.75, hypothesis
    assert aws.service.job("sphinx").engine == "pocketsphinx"


@pytest.mark.skipif(
    not HUMAN.exists(),
    reason="human speech needs Debian's pocketsphinx-testdata (apt-get install it)",
)
@pytest.mark.parametrize(
    ("engine", "clips", "bound"),
    [
        # Measured 2/30 = 6.7% (Whisper tiny.en; FACTS: 8.1% on 19 human clips).
        ("faster-whisper", ("0880", "0890", "0930"), 0.20),
        # Measured 5/22 = 23% (FACTS: 27% on 19 human clips).
        ("pocketsphinx", ("0890", "0930"), 0.45),
    ],
)
def test_human_speech_from_pocketsphinx_testdata(
    aws: Aws, engine: str, clips: tuple[str, ...], bound: float
) -> None:
    references = {
        line.rsplit("(", 1)[1].rstrip(")").rsplit("-", 1)[1]: line.split("</s>")[0][3:]
        for line in (HUMAN / "transcription").read_text().splitlines()
    }
    aws.service.set_engine(engine)
    for clip in clips:
        path = HUMAN / f"sense_and_sensibility_01_austen_64kb-{clip}.wav"
        aws.start(f"human-{clip}", aws.upload(path))
    pairs = []
    for clip in clips:
        job, _ = aws.wait(f"human-{clip}")
        pairs.append(
            (references[clip], aws.transcript(job)["results"]["transcripts"][0]["transcript"])
        )
    assert wer(pairs) <= bound, pairs


# -- output locations -----------------------------------------------------------------------


def test_output_key_rules_and_transcript_uris(aws: Aws) -> None:
    key = aws.upload(SAMPLE / "clip06_fast.wav", "in/fast clip.wav")
    cases = {
        "as-file": ("runs/2026/as-file.json", "runs/2026/as-file.json"),
        "as-folder": ("runs/2026", "runs/2026/as-folder.json"),
        "as-folder-slash": ("runs/2026/", "runs/2026/as-folder-slash.json"),
        "at-root": (None, "at-root.json"),
    }
    for name, (output_key, _) in cases.items():
        aws.start(name, key, **({"OutputKey": output_key} if output_key else {}))
    # An https (path-style, URL-encoded) media URI and no OutputBucketName: service bucket.
    aws.transcribe.start_transcription_job(
        TranscriptionJobName="service-bucket",
        Media={"MediaFileUri": f"{REGION_URI}/{aws.media_bucket}/in/fast%20clip.wav"},
        LanguageCode="en-US",
    )
    for name, (_, expected) in cases.items():
        job, _ = aws.wait(name)
        assert (
            job["Transcript"]["TranscriptFileUri"] == f"{REGION_URI}/{aws.output_bucket}/{expected}"
        )
        assert aws.transcript(job)["jobName"] == name
    written = sorted(o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.output_bucket)["Contents"])
    assert written == sorted(expected for _, expected in cases.values())
    job, _ = aws.wait("service-bucket")
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["Transcript"]["TranscriptFileUri"].startswith(  # presigned: test_aws_contract.py
        f"{aws.twin.endpoint_url}/aws-transcribe-us-east-1-prod/123456789012/service-bucket/"
    )
    assert aws.transcript(job)["results"]["transcripts"][0]["transcript"]


# -- failures -------------------------------------------------------------------------------


def test_bad_media_fails_jobs_with_aws_reasons(aws: Aws) -> None:
    aws.s3.put_object(Bucket=aws.media_bucket, Key="corrupt.wav", Body=b"this is not audio\n" * 200)
    aws.put_wav("short.wav", b"\x00\x10" * int(16000 * 0.3))
    clip = aws.upload(SAMPLE / "clip06_fast.wav")
    aws.start("corrupt", "corrupt.wav")
    aws.start("short", "short.wav")
    aws.start("missing", "nowhere/missing.wav")
    aws.start("mislabelled", clip, MediaFormat="mp3")
    reasons = {}
    for name in ("corrupt", "short", "missing", "mislabelled"):
        job, history = aws.wait(name)
        assert history[-1] == "FAILED" and "Transcript" not in job
        reasons[name] = job["FailureReason"]
    assert reasons["corrupt"] == UNPARSEABLE
    assert "minimum duration of 0.5 seconds" in reasons["short"]
    assert reasons["missing"] == MEDIA_NOT_FOUND
    assert reasons["mislabelled"] == FORMAT_MISMATCH
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=aws.output_bucket)
    listed = aws.transcribe.list_transcription_jobs(Status="FAILED")["TranscriptionJobSummaries"]
    assert {s["TranscriptionJobName"]: s["FailureReason"] for s in listed} == reasons
    assert {r.name: r.failure_reason for r in aws.service.jobs} == reasons


def test_injected_failures(aws: Aws) -> None:
    aws.service.set_faults(fail_fraction=1.0)
    aws.start("doomed", aws.upload(SAMPLE / "clip06_fast.wav"))
    job, history = aws.wait("doomed")
    assert history[-1] == "FAILED"
    assert job["FailureReason"] == INJECTED_FAILURE
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=aws.output_bucket)


def test_seeded_fault_fraction_is_reproducible() -> None:
    first, second = (FaultInjector(Faults(fail_fraction=0.5, seed=7)) for _ in range(2))
    sequence = [first.should_fail() for _ in range(40)]
    assert sequence == [second.should_fail() for _ in range(40)]
    assert 5 < sum(sequence) < 35
    first.set(Faults(fail_fraction=0.5, seed=7))  # setting faults restarts the seeded stream
    assert [first.should_fail() for _ in range(40)] == sequence


# -- quotas and API rules -------------------------------------------------------------------


def test_concurrent_job_quota_gives_limit_exceeded(aws: Aws) -> None:
    aws.service.set_quotas(max_concurrent_jobs=2)
    aws.service.set_faults(extra_latency_seconds=0.5)
    key = aws.upload(SAMPLE / "clip06_fast.wav")
    aws.start("one", key)
    aws.start("two", key)
    with pytest.raises(ClientError) as excinfo:
        aws.start("three", key)
    assert aws.error(excinfo) == (
        "LimitExceededException",
        "You have too many jobs running at the same time.",
    )
    names = [
        s["TranscriptionJobName"]
        for s in aws.transcribe.list_transcription_jobs()["TranscriptionJobSummaries"]
    ]
    assert sorted(names) == ["one", "two"]
    assert aws.service.wait_idle(60)
    assert aws.start("three", key)["TranscriptionJobName"] == "three"  # room again


def test_start_rate_gives_throttling(aws: Aws) -> None:
    aws.service.set_quotas(start_requests_per_second=2)
    aws.start("a", "missing.wav")
    aws.start("b", "missing.wav")
    with pytest.raises(ClientError) as excinfo:
        aws.start("c", "missing.wav")
    assert aws.error(excinfo) == ("ThrottlingException", "Rate exceeded")
    time.sleep(0.6)  # the bucket refills at 2 tokens per second
    aws.start("c", "missing.wav")

    aws.service.set_faults(throttle_fraction=1.0)
    with pytest.raises(ClientError) as excinfo:
        aws.start("d", "missing.wav")
    assert aws.error(excinfo)[0] == "ThrottlingException"
    names = [
        s["TranscriptionJobName"]
        for s in aws.transcribe.list_transcription_jobs()["TranscriptionJobSummaries"]
    ]
    assert sorted(names) == ["a", "b", "c"]


def test_duplicate_name_is_a_conflict_with_aws_wording(aws: Aws) -> None:
    """Source: AWS's message, quoted in amazon-connect/amazon-connect-salesforce-scv#164."""
    aws.start("dup", "missing.wav")
    with pytest.raises(ClientError) as excinfo:
        aws.start("dup", "missing.wav")
    assert aws.error(excinfo) == (
        "ConflictException",
        "The requested job name already exists. Use a different job name.",
    )


def test_reset_forgets_jobs(aws: Aws) -> None:
    aws.start("before-reset", "missing.wav")
    aws.service.wait_idle(10)
    assert [r.name for r in aws.service.jobs] == ["before-reset"]
    aws.twin.reset()
    assert aws.service.jobs == []
    assert aws.transcribe.list_transcription_jobs()["TranscriptionJobSummaries"] == []
    aws.s3.create_bucket(Bucket=aws.media_bucket)  # the fixture's buckets went with the reset
    aws.s3.create_bucket(Bucket=aws.output_bucket)


# -- pure functions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_key", "expected"),
    [
        (None, "job.json"),
        ("out.json", "out.json"),
        ("a/b/out.json", "a/b/out.json"),
        ("a/b", "a/b/job.json"),
        ("a/b/", "a/b/job.json"),
        ("a/b.JSON", "a/b.JSON/job.json"),  # the suffix rule is case-sensitive, like S3 keys
    ],
)
def test_customer_output_location(output_key: str | None, expected: str) -> None:
    location = customer_output_location("bucket", output_key, "job")
    assert location.key == expected
    assert location.uri("eu-west-1") == f"https://s3.eu-west-1.amazonaws.com/bucket/{expected}"


def test_whisper_words_become_amazon_items() -> None:
    words = [
        Word('"Hello,', 0.5, 0.87, 0.99),
        Word("world.", 1.0, 1.25, 0.912345),
        Word("6.7%", 1.3, 2.0, 1.2),
        Word("Monday's?!", 2.0, 2.5, 0.5),
    ]
    document = transcript_document("job", "123456789012", words)
    assert document["results"]["transcripts"] == [{"transcript": "Hello, world. 6.7% Monday's?!"}]
    assert document["results"]["items"] == [
        {
            "id": 0,
            "type": "pronunciation",
            "alternatives": [{"confidence": "0.99", "content": "Hello"}],
            "start_time": "0.5",
            "end_time": "0.87",
        },
        {"id": 1, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": ","}]},
        {
            "id": 2,
            "type": "pronunciation",
            "alternatives": [{"confidence": "0.912", "content": "world"}],
            "start_time": "1.0",
            "end_time": "1.25",
        },
        {"id": 3, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "."}]},
        {
            "id": 4,
            "type": "pronunciation",
            "alternatives": [{"confidence": "1.0", "content": "6.7%"}],
            "start_time": "1.3",
            "end_time": "2.0",
        },
        {
            "id": 5,
            "type": "pronunciation",
            "alternatives": [{"confidence": "0.5", "content": "Monday's"}],
            "start_time": "2.0",
            "end_time": "2.5",
        },
        {"id": 6, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "?"}]},
        {"id": 7, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "!"}]},
    ]
    assert transcript_document("job", "1", [])["results"]["transcripts"] == [{"transcript": ""}]


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [
        ("s3://b/k/x.wav", "b", "k/x.wav"),
        ("https://s3.us-east-1.amazonaws.com/b/k%20y.wav", "b", "k y.wav"),
        ("https://s3-eu-west-1.amazonaws.com/b/x.wav", "b", "x.wav"),
        ("https://s3.amazonaws.com/b/x.wav", "b", "x.wav"),
        ("https://b.s3.amazonaws.com/k/x.wav", "b", "k/x.wav"),
        ("https://b.s3.eu-west-1.amazonaws.com/x.wav", "b", "x.wav"),
    ],
)
def test_media_uri_forms(uri: str, bucket: str, key: str) -> None:
    location = parse_media_uri(uri)
    assert location is not None and (location.bucket, location.key) == (bucket, key)


@pytest.mark.parametrize("uri", ["s3://bucket-only", "ftp://b/x.wav", "https://example.com/x.wav"])
def test_unusable_media_uris(uri: str) -> None:
    assert parse_media_uri(uri) is None
