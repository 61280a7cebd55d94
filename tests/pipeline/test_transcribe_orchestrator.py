"""transcribe_corpus against a fake Transcribe that writes real output into moto's S3.

moto's own Transcribe advances statuses but writes no transcript, so the orchestration tests use
``FakeTranscribe``: IN_PROGRESS at start (as AWS answers), COMPLETED on a later Get (a Get that
still sees IN_PROGRESS comes first), output JSON in AWS's exact
shape written to the requested bucket/key, a concurrency quota, and injected faults. Request
parameters are checked against botocore's real service model. One test at the end runs against
moto's Transcribe itself to prove the requests pass the wire layer and Conflict adoption works.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from pipeline.errors import ConfigurationError
from pipeline.transcribe import (
    CorpusItem,
    JobPlanError,
    ProgressEvent,
    TranscriptionResult,
    discover_corpus,
    job_name,
    transcribe_client_config,
    transcribe_corpus,
)
from pipeline.transcribe.jobs import JOB_NAME_PATTERN, OUTPUT_KEY_PATTERN

RUN_ID = "2026-11-24T20-00-00Z-3fa9c1"
FAST = {
    "poll_interval": 0.001,
    "get_rate": 2000.0,
    "start_rate": 2000.0,
    "backoff_base": 0.001,
    "backoff_cap": 0.005,
    "job_timeout": 30.0,
}
LIMIT_MESSAGE = "You have too many jobs running at the same time"


def aws_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        operation,
    )


def aws_output(job: str, words: list[str]) -> dict[str, Any]:
    """Transcribe's output shape, with string times and confidences as real AWS writes them."""
    items = [
        {
            "start_time": f"{0.5 * n:.2f}",
            "end_time": f"{0.5 * n + 0.4:.2f}",
            "alternatives": [{"confidence": "0.99", "content": word}],
            "type": "pronunciation",
        }
        for n, word in enumerate(words)
    ]
    items.append({"alternatives": [{"confidence": "0.0", "content": "."}], "type": "punctuation"})
    return {
        "jobName": job,
        "accountId": "123456789012",
        "status": "COMPLETED",
        "results": {"transcripts": [{"transcript": " ".join(words) + "."}], "items": items},
    }


@dataclass
class Script:
    """What the fake does for one media file."""

    words: list[str] = field(default_factory=lambda: ["hello", "world"])
    fail_reason: str | None = None  # ends FAILED with this FailureReason
    never_finishes: bool = False
    corrupt_output: bool = False
    start_errors: deque[str] = field(default_factory=deque)  # codes raised on successive starts


@dataclass
class FakeJob:
    params: dict[str, Any]
    status: str = "IN_PROGRESS"  # StartTranscriptionJob's answer on AWS
    polled: bool = False


class FakeTranscribe:
    """The slice of the Transcribe client the orchestrator uses, with AWS's behaviours."""

    def __init__(self, s3: Any, *, concurrency_limit: int = 250, foreign_jobs: int = 0) -> None:
        self.s3 = s3
        self.concurrency_limit = concurrency_limit
        # Jobs of someone else in the same account: they hold quota until this many more Gets.
        self.foreign_jobs = foreign_jobs
        self.foreign_jobs_finish_after_gets = 0
        self.jobs: dict[str, FakeJob] = {}
        self.scripts: dict[str, Script] = {}  # by MediaFileUri
        self.calls: list[tuple[str, str, str]] = []  # (operation, job name, outcome)
        self.get_times: list[float] = []
        self.max_running = 0
        self.list_error = ""  # a code every ListTranscriptionJobs raises (e.g. AccessDenied)
        self._model = boto3.client("transcribe", region_name="us-east-1").meta.service_model

    def script(self, media_uri: str) -> Script:
        return self.scripts.setdefault(media_uri, Script())

    def running(self) -> int:
        """Our running jobs; the quota also counts the foreign ones."""
        return sum(job.status == "IN_PROGRESS" for job in self.jobs.values())

    def _check(self, operation: str, params: dict[str, Any]) -> None:
        """Reject what real AWS would: botocore's shape check plus the service's patterns."""
        validate_parameters(params, self._model.operation_model(operation).input_shape)
        name = params["TranscriptionJobName"]
        assert JOB_NAME_PATTERN.match(name) and len(name) <= 200, name
        if operation == "StartTranscriptionJob":
            assert OUTPUT_KEY_PATTERN.match(params["OutputKey"]), params["OutputKey"]

    def start_transcription_job(self, **params: Any) -> dict[str, Any]:
        self._check("StartTranscriptionJob", params)
        name = params["TranscriptionJobName"]
        script = self.script(params["Media"]["MediaFileUri"])
        outcome = "started"
        try:
            if script.start_errors:
                code = script.start_errors.popleft()
                message = {"ThrottlingException": "Rate exceeded"}.get(code, f"injected {code}")
                raise aws_error(code, message, "StartTranscriptionJob")
            if name in self.jobs:
                raise aws_error(
                    "ConflictException",
                    "The requested job name already exists. Use a different job name.",
                    "StartTranscriptionJob",
                )
            if self.running() + self.foreign_jobs >= self.concurrency_limit:
                raise aws_error("LimitExceededException", LIMIT_MESSAGE, "StartTranscriptionJob")
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
            raise
        finally:
            self.calls.append(("start", name, outcome))
        self.jobs[name] = FakeJob(dict(params))
        self.max_running = max(self.max_running, self.running())
        return {
            "TranscriptionJob": {
                "TranscriptionJobName": name,
                "TranscriptionJobStatus": "IN_PROGRESS",
                "StartTime": time.time(),
            }
        }

    def get_transcription_job(self, **params: Any) -> dict[str, Any]:
        self._check("GetTranscriptionJob", params)
        name = params["TranscriptionJobName"]
        self.get_times.append(time.monotonic())
        if len(self.get_times) >= self.foreign_jobs_finish_after_gets:
            self.foreign_jobs = 0
        if name not in self.jobs:
            raise aws_error(
                "BadRequestException", "The requested job couldn't be found.", "GetTranscriptionJob"
            )
        job = self.jobs[name]
        script = self.script(job.params["Media"]["MediaFileUri"])
        if not job.polled:
            job.polled = True
        elif job.status == "IN_PROGRESS" and not script.never_finishes:
            job.status = "FAILED" if script.fail_reason else "COMPLETED"
            if job.status == "COMPLETED":
                self._write_output(name, job.params, script)
        self.calls.append(("get", name, job.status))
        details = {
            "TranscriptionJobName": name,
            "TranscriptionJobStatus": job.status,
            "LanguageCode": job.params["LanguageCode"],
            "MediaFormat": job.params["MediaFormat"],
            "Media": job.params["Media"],
        }
        if job.status == "FAILED":
            details["FailureReason"] = script.fail_reason
        if job.status == "COMPLETED":
            details["Transcript"] = {
                "TranscriptFileUri": "https://s3.us-east-1.amazonaws.com/"
                f"{job.params['OutputBucketName']}/{job.params['OutputKey']}"
            }
        return {"TranscriptionJob": details}

    def list_transcription_jobs(self, **params: Any) -> dict[str, Any]:
        """The run's jobs with a status, newest first, one page (AWS pages by 100)."""
        validate_parameters(
            params, self._model.operation_model("ListTranscriptionJobs").input_shape
        )
        self.calls.append(("list", params.get("Status", ""), "listed"))
        if self.list_error:
            raise aws_error(self.list_error, "not allowed", "ListTranscriptionJobs")
        needle = params.get("JobNameContains", "").lower()
        names = [
            name
            for name, job in reversed(self.jobs.items())
            if needle in name.lower() and job.status == params.get("Status", job.status)
        ]
        summaries = [{"TranscriptionJobName": n, "TranscriptionJobStatus": self.jobs[n].status}
                     for n in names]  # fmt: skip
        return {"TranscriptionJobSummaries": summaries}

    def _write_output(self, name: str, params: dict[str, Any], script: Script) -> None:
        body = (
            b'{"jobName": "'
            if script.corrupt_output
            else json.dumps(aws_output(name, script.words))
        )
        self.s3.put_object(Bucket=params["OutputBucketName"], Key=params["OutputKey"], Body=body)


@pytest.fixture
def aws(in_process_aws: None) -> None:
    """The name this module's tests ask for; moto comes from tests/pipeline/conftest.py."""


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="media")
    client.create_bucket(Bucket="results")
    return client


def corpus_items(s3: Any, *files: str, with_references: bool = True) -> list[CorpusItem]:
    for file in files:
        s3.put_object(Bucket="media", Key=f"corpus/{file}", Body=b"RIFF")
        if with_references:
            s3.put_object(Bucket="media", Key=f"corpus/{file.rsplit('.', 1)[0]}.txt", Body=b"ref")
    return discover_corpus(s3, "media", "corpus").items


def uri(file: str) -> str:
    return f"s3://media/corpus/{file}"


def run(items: list[CorpusItem], fake: FakeTranscribe, s3: Any, **overrides: Any):
    events: list[ProgressEvent] = []
    settings = {**FAST, **overrides}
    results = transcribe_corpus(
        items,
        transcribe=fake,
        s3=s3,
        media_bucket="media",
        output_bucket="results",
        run_id=RUN_ID,
        on_progress=events.append,
        **settings,
    )
    return results, events


def by_file(results: list[TranscriptionResult]) -> dict[str, TranscriptionResult]:
    return {result.file: result for result in results}


def test_every_file_is_transcribed_and_read_back(s3) -> None:
    items = corpus_items(s3, "clip01.wav", "sub/x.flac", "v.webm")
    s3.put_object(Bucket="media", Key="corpus/a.wav", Body=b"RIFF")  # same stem as a.mp3,
    s3.put_object(Bucket="media", Key="corpus/a.mp3", Body=b"ID3")  # and no reference
    items = discover_corpus(s3, "media", "corpus").items
    fake = FakeTranscribe(s3)
    fake.script(uri("clip01.wav")).words = ["the", "quick", "brown", "fox"]

    results, events = run(items, fake, s3)

    assert [r.file for r in results] == [i.file for i in items]
    assert [r.status for r in results] == ["ok"] * 5
    assert all(r.error is None for r in results)
    clip = by_file(results)["clip01.wav"]
    assert clip.transcript == "the quick brown fox."
    assert clip.audio_seconds == 1.9  # end of the last word: 0.5 * 3 + 0.4
    assert clip.job_name == job_name(RUN_ID, "clip01.wav")
    assert clip.transcript_key == f"transcripts/{RUN_ID}/clip01.json"
    assert clip.audio_key == "corpus/clip01.wav"
    assert by_file(results)["a.wav"].transcript_key == f"transcripts/{RUN_ID}/a.wav.json"
    assert by_file(results)["a.mp3"].transcript_key == f"transcripts/{RUN_ID}/a.mp3.json"
    # The transcripts really are in S3, where the contract says, in Transcribe's shape.
    stored = s3.list_objects_v2(Bucket="results", Prefix=f"transcripts/{RUN_ID}/")["Contents"]
    assert sorted(o["Key"] for o in stored) == sorted(r.transcript_key for r in results)
    body = s3.get_object(Bucket="results", Key=clip.transcript_key)["Body"].read()
    assert json.loads(body)["jobName"] == clip.job_name
    # The fake saw one job per file, each with the right media format and language.
    assert {
        j.params["Media"]["MediaFileUri"]: j.params["MediaFormat"] for j in fake.jobs.values()
    } == {
        uri("a.mp3"): "mp3",
        uri("a.wav"): "wav",
        uri("clip01.wav"): "wav",
        uri("sub/x.flac"): "flac",
        uri("v.webm"): "webm",
    }
    assert {j.params["LanguageCode"] for j in fake.jobs.values()} == {"en-US"}
    # Progress: five starts, five completions, counts that add up.
    assert [e.kind for e in events].count("started") == 5
    assert [e.kind for e in events].count("completed") == 5
    last = events[-1]
    assert (last.started, last.completed, last.failed, last.in_flight) == (5, 5, 0, 0)
    assert str(last) == f"[5/5 done, 0 in flight] completed {last.file}"


def test_every_kind_of_failure_gives_one_result_with_its_reason(s3) -> None:
    files = [
        "ok1.wav",
        "failed.wav",
        "never.wav",
        "corrupt.wav",
        "throttled.wav",
        "badrequest.wav",
        "always_throttled.wav",
        "ok2.wav",
    ]
    items = corpus_items(s3, *files)
    fake = FakeTranscribe(s3)
    fake.script(uri("failed.wav")).fail_reason = "The media format provided does not match."
    fake.script(uri("never.wav")).never_finishes = True
    fake.script(uri("corrupt.wav")).corrupt_output = True
    fake.script(uri("throttled.wav")).start_errors.extend(["ThrottlingException"] * 2)
    fake.script(uri("badrequest.wav")).start_errors.append("BadRequestException")
    fake.script(uri("always_throttled.wav")).start_errors.extend(["ThrottlingException"] * 99)

    results, events = run(items, fake, s3, job_timeout=1.0, max_start_attempts=4)

    assert [r.file for r in results] == [i.file for i in items]
    status = {r.file: (r.status, r.error) for r in results}
    assert status["ok1.wav"] == ("ok", None)
    assert status["ok2.wav"] == ("ok", None)
    assert status["throttled.wav"] == ("ok", None)
    assert status["failed.wav"] == (
        "failed",
        f"job {job_name(RUN_ID, 'failed.wav')} FAILED: The media format provided does not match.",
    )
    assert status["never.wav"][0] == "failed"
    assert status["never.wav"][1].startswith(f"timeout: job {job_name(RUN_ID, 'never.wav')}")
    assert "last seen: IN_PROGRESS" in status["never.wav"][1]
    assert status["corrupt.wav"][0] == "failed"
    assert "unreadable output" in status["corrupt.wav"][1]
    assert f"s3://results/transcripts/{RUN_ID}/corrupt.json" in status["corrupt.wav"][1]
    assert status["badrequest.wav"] == (
        "failed",
        "start failed: BadRequestException: injected BadRequestException",
    )
    assert status["always_throttled.wav"] == (
        "failed",
        "start failed after 4 attempts: ThrottlingException: Rate exceeded",
    )
    # Failed rows carry no transcript; ok rows carry one.
    assert all((r.transcript is None) == (r.status == "failed") for r in results)
    # Retries: throttled.wav was tried three times, always_throttled.wav four, badrequest once.
    starts = [c for c in fake.calls if c[0] == "start"]
    assert sum(c[1] == job_name(RUN_ID, "throttled.wav") for c in starts) == 3
    assert sum(c[1] == job_name(RUN_ID, "always_throttled.wav") for c in starts) == 4
    assert sum(c[1] == job_name(RUN_ID, "badrequest.wav") for c in starts) == 1
    kinds = [e.kind for e in events]
    assert kinds.count("failed") == 5
    assert kinds.count("completed") == 3
    assert kinds.count("retrying") == 2 + 3
    assert (events[-1].completed, events[-1].failed, events[-1].in_flight) == (3, 5, 0)


def test_items_without_reference_are_still_transcribed(s3) -> None:
    items = corpus_items(s3, "lonely.wav", with_references=False)
    assert items[0].reference_key is None
    results, _ = run(items, FakeTranscribe(s3), s3)
    assert (results[0].status, results[0].transcript) == ("ok", "hello world.")


@pytest.mark.parametrize("max_in_flight", [1, 3, 7])
def test_in_flight_never_exceeds_the_window(s3, max_in_flight: int) -> None:
    items = corpus_items(s3, *(f"c{n:02d}.wav" for n in range(15)))
    fake = FakeTranscribe(s3)
    results, events = run(items, fake, s3, max_in_flight=max_in_flight)
    assert [r.status for r in results] == ["ok"] * 15
    assert fake.max_running == max_in_flight  # reached, never exceeded
    assert max(e.in_flight for e in events) == max_in_flight


def test_account_quota_shrinks_the_window_and_loses_nothing(s3) -> None:
    """The account allows 3 running jobs; we ask for 10. LimitExceeded must not fail files."""
    items = corpus_items(s3, *(f"c{n:02d}.wav" for n in range(12)))
    fake = FakeTranscribe(s3, concurrency_limit=3)
    fake.script(uri("c05.wav")).fail_reason = "Invalid sample rate"

    results, events = run(items, fake, s3, max_in_flight=10, max_start_attempts=2)

    assert len(results) == 12
    assert [r.file for r in results if r.status == "failed"] == ["c05.wav"]
    assert fake.max_running == 3
    refused = [c for c in fake.calls if c[2] == "LimitExceededException"]
    assert refused, "the quota was hit"
    # Every refusal came while our own jobs were running, so none counted as a failed attempt,
    # and none of them shows up as a failure.
    assert all("window shrunk to" in e.detail for e in events if e.kind == "retrying")
    assert str(next(e for e in events if e.kind == "retrying")).endswith(
        f"{LIMIT_MESSAGE}; window shrunk to 3 running jobs"
    )
    assert all(LIMIT_MESSAGE not in (r.error or "") for r in results)
    # The window adapts: after shrinking, probes are rare, not one per poll.
    assert len(refused) <= 2 * len(items)


def test_window_grows_back_when_quota_frees_up(s3) -> None:
    """Foreign jobs hold 3 of 5 slots at first; once they end, we use all 5 again."""
    items = corpus_items(s3, *(f"c{n:02d}.wav" for n in range(20)))
    fake = FakeTranscribe(s3, concurrency_limit=5, foreign_jobs=3)
    fake.foreign_jobs_finish_after_gets = 6

    results, events = run(items, fake, s3, max_in_flight=5)

    assert [r.status for r in results] == ["ok"] * 20
    assert any(e.detail and "window shrunk to 2" in e.detail for e in events)
    assert fake.max_running == 5


def test_start_failures_for_everything_end_the_run(s3) -> None:
    items = corpus_items(s3, "a.wav", "b.wav")
    fake = FakeTranscribe(s3)
    for file in ("a.wav", "b.wav"):
        fake.script(uri(file)).start_errors.append("BadRequestException")
    results, events = run(items, fake, s3)
    assert [r.status for r in results] == ["failed", "failed"]
    assert [e.kind for e in events] == ["failed", "failed"]
    assert fake.jobs == {}


def test_limit_exceeded_with_nothing_of_ours_running_backs_off_then_starts(s3) -> None:
    """Other jobs in the account fill the quota: wait with back-off, then go."""
    items = corpus_items(s3, "a.wav", "b.wav")
    fake = FakeTranscribe(s3)
    fake.script(uri("a.wav")).start_errors.extend(["LimitExceededException"] * 3)

    results, events = run(items, fake, s3, max_in_flight=1, max_start_attempts=5)

    assert [r.status for r in results] == ["ok", "ok"]
    retrying = [e for e in events if e.kind == "retrying"]
    assert len(retrying) == 3
    assert all(
        "LimitExceededException" in e.detail and "next start attempt" in e.detail for e in retrying
    )


def test_limit_exceeded_forever_fails_the_file_with_the_aws_message(s3) -> None:
    items = corpus_items(s3, "a.wav", "b.wav")
    fake = FakeTranscribe(s3)
    fake.script(uri("a.wav")).start_errors.extend(["LimitExceededException"] * 10)
    results, _ = run(items, fake, s3, max_in_flight=1, max_start_attempts=3)
    assert (results[0].status, results[0].error) == (
        "failed",
        "start failed after 3 attempts: LimitExceededException: injected LimitExceededException",
    )
    assert results[1].status == "ok"


def test_rerun_with_the_same_run_id_adopts_existing_jobs(s3) -> None:
    items = corpus_items(s3, "a.wav", "b.wav", "c.wav")
    fake = FakeTranscribe(s3)
    first, _ = run(items, fake, s3)
    jobs_after_first_run = set(fake.jobs)

    second, events = run(items, fake, s3)

    assert set(fake.jobs) == jobs_after_first_run  # no new jobs
    assert [e.kind for e in events].count("adopted") == 3
    assert [(r.status, r.transcript, r.job_name) for r in second] == [
        (r.status, r.transcript, r.job_name) for r in first
    ]
    assert sum(c[2] == "ConflictException" for c in fake.calls) == 3


def test_adopting_a_job_for_other_media_is_refused(s3) -> None:
    items = corpus_items(s3, "a.wav")
    fake = FakeTranscribe(s3)
    fake.jobs[job_name(RUN_ID, "a.wav")] = FakeJob(
        {
            "LanguageCode": "en-US",
            "MediaFormat": "wav",
            "Media": {"MediaFileUri": "s3://other-bucket/corpus/a.wav"},
            "OutputBucketName": "results",
            "OutputKey": "elsewhere.json",
        }
    )
    results, _ = run(items, fake, s3)
    assert results[0].status == "failed"
    assert "already exists for s3://other-bucket/corpus/a.wav" in results[0].error


def test_get_calls_share_one_rate_limit(s3) -> None:
    items = corpus_items(s3, *(f"c{n}.wav" for n in range(6)))
    fake = FakeTranscribe(s3)
    rate = 50.0
    results, _ = run(items, fake, s3, get_rate=rate, max_in_flight=6)
    assert [r.status for r in results] == ["ok"] * 6
    times = fake.get_times
    assert len(times) >= 12
    # Six jobs in flight with a 1 ms poll interval would poll far faster without the bucket.
    assert times[-1] - times[0] >= (len(times) - 1) / rate - 0.005
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.5 / rate


def test_duplicate_items_and_bad_settings_are_refused_before_any_job(s3) -> None:
    items = corpus_items(s3, "a.wav")
    fake = FakeTranscribe(s3)
    with pytest.raises(JobPlanError):
        run(items * 2, fake, s3)
    with pytest.raises(ConfigurationError, match="max_in_flight"):
        run(items, fake, s3, max_in_flight=0)
    with pytest.raises(ConfigurationError, match="run_id"):
        transcribe_corpus(
            items,
            transcribe=fake,
            s3=s3,
            media_bucket="media",
            output_bucket="results",
            run_id="a b",
        )
    assert fake.calls == []


def test_empty_input_gives_empty_output(s3) -> None:
    assert run([], FakeTranscribe(s3), s3) == ([], [])


def test_against_motos_transcribe(s3) -> None:
    """moto checks the wire format and raises the real ConflictException; it writes no output,
    so a missing transcript must fail with the key, and a present one must be read."""
    items = corpus_items(s3, "a.wav", "b.mp3")
    transcribe = boto3.client(
        "transcribe", region_name="us-east-1", config=transcribe_client_config()
    )
    b_key = f"transcripts/{RUN_ID}/b.json"
    s3.put_object(Bucket="results", Key=b_key, Body=json.dumps(aws_output("b", ["moto", "ok"])))

    for _ in range(2):  # the second run adopts the jobs of the first
        results = transcribe_corpus(
            items,
            transcribe=transcribe,
            s3=s3,
            media_bucket="media",
            output_bucket="results",
            run_id=RUN_ID,
            **FAST,
        )
        a, b = results
        assert a.status == "failed"
        assert f"s3://results/transcripts/{RUN_ID}/a.json" in a.error
        assert "NoSuchKey" in a.error
        assert (b.status, b.transcript, b.audio_seconds) == ("ok", "moto ok.", 0.9)

    job = transcribe.get_transcription_job(TranscriptionJobName=a.job_name)["TranscriptionJob"]
    assert job["Media"]["MediaFileUri"] == "s3://media/corpus/a.wav"
    assert job["MediaFormat"] == "wav"
    assert len(transcribe.list_transcription_jobs()["TranscriptionJobSummaries"]) == 2


class Clock:
    """Virtual time for the orchestrator: sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class TimedTranscribe(FakeTranscribe):
    """Jobs that finish on a clock (3 s after they start), whoever asks."""

    def __init__(self, s3: Any, clock: Clock) -> None:
        super().__init__(s3)
        self.clock = clock
        self.started_at: dict[str, float] = {}

    def start_transcription_job(self, **params: Any) -> dict[str, Any]:
        answer = super().start_transcription_job(**params)
        self.started_at[params["TranscriptionJobName"]] = self.clock()
        return answer

    def _advance(self) -> None:
        for name, job in self.jobs.items():
            if job.status == "IN_PROGRESS" and self.clock() >= self.started_at[name] + 3.0:
                job.status, job.polled = "COMPLETED", True
                self._write_output(
                    name, job.params, self.script(job.params["Media"]["MediaFileUri"])
                )

    def get_transcription_job(self, **params: Any) -> dict[str, Any]:
        self._advance()
        return super().get_transcription_job(**params)

    def list_transcription_jobs(self, **params: Any) -> dict[str, Any]:
        self._advance()
        return super().list_transcription_jobs(**params)


def test_a_sweep_notices_finished_jobs_without_polling_each(s3) -> None:
    """With a long poll interval, a job that finished is polled right after the next sweep
    (ListTranscriptionJobs no longer lists it), not when its own poll comes round."""
    items = corpus_items(s3, "a.wav", "b.wav")
    clock = Clock()
    fake = TimedTranscribe(s3, clock)
    results, _ = run(
        items, fake, s3, poll_interval=600.0, sweep_interval=2.0, list_rate=100.0,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert [r.status for r in results] == ["ok", "ok"]
    assert 3.0 <= clock.now <= 5.0  # the first sweep after 3 s, not the 600 s poll
    gets = [call for call in fake.calls if call[0] == "get"]
    assert len(gets) == 2  # one Get per finished job, none wasted on running ones


def test_without_list_permission_polling_alone_still_finds_every_job(s3) -> None:
    items = corpus_items(s3, "a.wav", "b.wav", "c.wav")
    fake = FakeTranscribe(s3)
    fake.list_error = "AccessDeniedException"
    clock = Clock()
    results, _ = run(
        items, fake, s3, poll_interval=5.0, sweep_interval=1.0, clock=clock, sleep=clock.sleep
    )
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert sum(call[0] == "list" for call in fake.calls) == 1  # tried once, then polling only


def test_the_largest_media_starts_first_and_results_keep_input_order(s3) -> None:
    """Longest-processing-time first: a job's duration grows with its media, and a long job
    started last would keep the run going alone."""
    for name, size in (("small.wav", 10), ("large.wav", 3000), ("medium.wav", 500)):
        s3.put_object(Bucket="media", Key=f"corpus/{name}", Body=b"x" * size)
        s3.put_object(Bucket="media", Key=f"corpus/{name[:-4]}.txt", Body=b"ref")
    items = discover_corpus(s3, "media", "corpus").items
    fake = FakeTranscribe(s3)
    results, _ = run(items, fake, s3)
    starts = [name for operation, name, outcome in fake.calls if operation == "start"]
    assert [name.split("_")[1] for name in starts] == ["large.wav", "medium.wav", "small.wav"]
    assert [r.file for r in results] == [i.file for i in items]
