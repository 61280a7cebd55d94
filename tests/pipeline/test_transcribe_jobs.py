"""Job names and output keys: valid for Transcribe, deterministic, unique within a run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import ConfigurationError
from pipeline.run_id import new_run_id
from pipeline.transcribe import CorpusItem, JobPlanError, job_name, plan_jobs, transcript_keys
from pipeline.transcribe.jobs import JOB_NAME_PATTERN, OUTPUT_KEY_PATTERN, start_request

RUN_ID = "2026-11-24T20-00-00Z-3fa9c1"

# S3 keys are any Unicode up to 1024 bytes; include the characters Transcribe rejects.
files = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300
).filter(lambda f: len(f.encode()) <= 1024)
run_ids = st.from_regex(r"[0-9A-Za-z._-]{1,100}", fullmatch=True)


def item(file: str) -> CorpusItem:
    stem = file.rsplit(".", 1)[0] if "." in file else file
    return CorpusItem(file, stem, f"corpus/{file}", None, "wav")


@given(run_id=run_ids, file=files)
def test_job_names_are_valid_for_transcribe(run_id: str, file: str) -> None:
    name = job_name(run_id, file)
    assert JOB_NAME_PATTERN.match(name)
    assert 1 <= len(name) <= 200
    assert name == job_name(run_id, file)  # deterministic, so a re-run can adopt its jobs


@given(a=files, b=files)
def test_job_names_differ_when_files_differ(a: str, b: str) -> None:
    if a != b:
        assert job_name(RUN_ID, a) != job_name(RUN_ID, b)


@given(file=files)
def test_job_names_differ_between_runs(file: str) -> None:
    assert job_name(RUN_ID, file) != job_name(new_run_id(), file)


def test_job_name_is_readable() -> None:
    name = job_name(RUN_ID, "sub/clip 01.wav")
    assert name.startswith(f"{RUN_ID}_sub-clip-01.wav_")


def test_files_differing_only_in_sanitized_characters_get_distinct_names() -> None:
    names = {job_name(RUN_ID, f) for f in ("a b.wav", "a-b.wav", "a/b.wav", "a+b.wav", "a é.wav")}
    assert len(names) == 5


def test_long_files_are_truncated_but_stay_unique() -> None:
    long_a, long_b = "x" * 500 + "a.wav", "x" * 500 + "b.wav"
    assert len(job_name(RUN_ID, long_a)) == 200
    assert job_name(RUN_ID, long_a) != job_name(RUN_ID, long_b)


@pytest.mark.parametrize("run_id", ["", "has space", "a/b", "x" * 101])
def test_invalid_run_ids_are_refused(run_id: str) -> None:
    with pytest.raises(ConfigurationError, match="run_id"):
        job_name(run_id, "a.wav")


def test_transcript_keys_follow_the_contract() -> None:
    keys = transcript_keys(RUN_ID, [item("clip01.wav"), item("sub/x.flac")])
    assert keys == [f"transcripts/{RUN_ID}/clip01.json", f"transcripts/{RUN_ID}/sub/x.json"]


def test_dot_segments_never_reach_a_transcript_key() -> None:
    """The issue: ``../escape.wav`` gave ``transcripts/<run>/../escape.json``, which any tool that
    resolves paths (the CLI's sync, a browser) reads as outside the run's folder."""
    files = ["../escape.wav", "a/./b.wav", "/lead.wav", "x//y.wav", "../../up.wav", "..x.wav"]
    keys = transcript_keys(RUN_ID, [item(file) for file in files])
    folder = f"transcripts/{RUN_ID}/"
    assert keys == [
        f"{folder}__/escape.json",
        f"{folder}a/_/b.json",
        f"{folder}_/lead.json",
        f"{folder}x/_/y.json",
        f"{folder}__/__/up.json",
        f"{folder}..x.json",
    ]
    for key in keys:
        segments = key.split("/")
        assert "." not in segments and ".." not in segments and "" not in segments


@given(st.text(st.sampled_from("./ab"), min_size=1, max_size=12))
def test_no_file_name_makes_a_key_with_dot_or_empty_segments(file: str) -> None:
    (key,) = transcript_keys(RUN_ID, [item(file + ".wav")])
    assert not {".", "..", ""} & set(key.removesuffix(".json").split("/"))


def test_shared_stems_get_distinct_keys() -> None:
    items = [
        CorpusItem("a.mp3", "a", "c/a.mp3", "c/a.txt", "mp3"),
        CorpusItem("a.wav", "a", "c/a.wav", "c/a.txt", "wav"),
        CorpusItem("b.wav", "b", "c/b.wav", None, "wav"),
    ]
    assert transcript_keys(RUN_ID, items) == [
        f"transcripts/{RUN_ID}/a.mp3.json",
        f"transcripts/{RUN_ID}/a.wav.json",
        f"transcripts/{RUN_ID}/b.json",
    ]


def test_stems_equal_after_sanitizing_get_hashed_keys() -> None:
    keys = transcript_keys(RUN_ID, [item("a b.wav"), item("a_b.wav"), item("ok.wav")])
    assert len(set(keys)) == 3
    assert keys[2] == f"transcripts/{RUN_ID}/ok.json"
    assert all(OUTPUT_KEY_PATTERN.match(k) for k in keys)


@given(st.lists(files, min_size=1, max_size=8, unique=True))
def test_planned_keys_and_names_are_valid_and_unique(batch: list[str]) -> None:
    specs = plan_jobs([item(f) for f in batch], run_id=RUN_ID, media_bucket="media")
    assert [s.item.file for s in specs] == batch
    assert [s.index for s in specs] == list(range(len(batch)))
    assert len({s.job_name for s in specs}) == len(batch)
    assert len({s.transcript_key for s in specs}) == len(batch)
    for spec in specs:
        assert OUTPUT_KEY_PATTERN.match(spec.transcript_key)
        assert len(spec.transcript_key) <= 1024


def test_duplicate_inputs_are_refused() -> None:
    with pytest.raises(JobPlanError, match=r"a\.wav"):
        plan_jobs([item("a.wav"), item("a.wav")], run_id=RUN_ID, media_bucket="media")


def test_start_request_names_format_media_and_output() -> None:
    (spec,) = plan_jobs(
        [CorpusItem("sub/v.webm", "sub/v", "corpus/sub/v.webm", None, "webm")],
        run_id=RUN_ID,
        media_bucket="media",
    )
    assert start_request(spec, output_bucket="results", language_code="en-GB") == {
        "TranscriptionJobName": job_name(RUN_ID, "sub/v.webm"),
        "LanguageCode": "en-GB",
        "MediaFormat": "webm",
        "Media": {"MediaFileUri": "s3://media/corpus/sub/v.webm"},
        "OutputBucketName": "results",
        "OutputKey": f"transcripts/{RUN_ID}/sub/v.json",
    }
