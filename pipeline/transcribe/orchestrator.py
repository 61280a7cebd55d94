"""Transcribe a corpus: keep a bounded window of jobs in flight and never lose a file.

One thread, one loop: start jobs while the window has room, then poll the job whose turn is
next. Every input ends as exactly one TranscriptionResult, in input order, whatever AWS does.

Back-off, in layers:
- botocore (``transcribe_client_config``) retries ThrottlingException a few times per call;
- a StartTranscriptionJob refused with LimitExceededException ("too many jobs running") while
  jobs of this run are in flight shrinks the window to what is running and waits for one to
  finish; the window grows back by one per finished job, up to ``max_in_flight``;
- other retryable refusals (throttling that outlasted botocore, LimitExceeded with none of our
  jobs running, 5xx, dropped connections) pause starting with exponential back-off, and fail the
  file after ``max_start_attempts``;
- ConflictException (the job name exists, e.g. a re-run with the same run_id) adopts the job.

Noticing that a job finished: with hundreds in flight, polling each job with
GetTranscriptionJob (30 per second for the whole account) notices a finished job only when its
turn comes, seconds after its slot freed, and the idle slots add up (2.9 times the best
possible makespan for 5,000 files, bench/orchestration.py). So every ``sweep_interval`` a sweep
lists the run's IN_PROGRESS jobs (ListTranscriptionJobs, 100 a page, filtered by the run id that
every job name starts with): an in-flight job it no longer lists has finished, and is polled at
once. Every job is still polled every ``poll_interval`` (30 s by default), the safety net in
case a sweep misses one. A role without ListTranscriptionJobs falls back
to polling alone. GetTranscriptionJob and ListTranscriptionJobs calls each share one token
bucket, so they stay under ``get_rate`` and ``list_rate`` per second however many jobs are in
flight.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import ConfigurationError
from pipeline.transcribe.jobs import JobSpec, plan_jobs, start_request
from pipeline.transcribe.pacing import (
    TokenBucket,
    backoff_delay,
    describe_error,
    error_code,
    is_retryable,
)
from pipeline.transcribe.transcript import TranscriptError, read_transcript

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from pipeline.transcribe.corpus import CorpusItem

Status = Literal["ok", "failed"]
EventKind = Literal["started", "adopted", "retrying", "completed", "failed"]


@dataclass(frozen=True)
class TranscriptionResult:
    """The outcome for one input file. ``audio_seconds`` is the transcript's speech_seconds."""

    file: str
    audio_key: str
    job_name: str
    transcript_key: str
    status: Status
    transcript: str | None
    error: str | None
    audio_seconds: float | None


@dataclass(frozen=True)
class ProgressEvent:
    """What just happened to one file, with the run's running totals (for a progress bar)."""

    kind: EventKind
    file: str
    job_name: str
    total: int
    started: int
    completed: int
    failed: int
    in_flight: int
    detail: str | None = None

    def __str__(self) -> str:
        """One line for a notebook's log, e.g. ``[3/10 done, 4 in flight] started clip01.wav``."""
        done = self.completed + self.failed
        line = f"[{done}/{self.total} done, {self.in_flight} in flight] {self.kind} {self.file}"
        return f"{line}: {self.detail}" if self.detail else line


@dataclass
class _Job:
    spec: JobSpec
    deadline: float
    next_poll: float
    adopted: bool
    launched: float


class _Run:
    """The state of one transcribe_corpus call."""

    def __init__(
        self,
        specs: list[JobSpec],
        *,
        transcribe: BaseClient,
        s3: BaseClient,
        output_bucket: str,
        language_code: str,
        max_in_flight: int,
        poll_interval: float,
        job_timeout: float,
        get_rate: float,
        start_rate: float,
        max_start_attempts: int,
        backoff_base: float,
        backoff_cap: float,
        on_progress: Callable[[ProgressEvent], None] | None,
        run_id: str = "",
        sweep_interval: float = math.inf,
        list_rate: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transcribe = transcribe
        self.s3 = s3
        self.output_bucket = output_bucket
        self.language_code = language_code
        self.max_in_flight = max_in_flight
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.max_start_attempts = max_start_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.on_progress = on_progress
        self.clock, self.sleep = clock, sleep
        self.get_limiter = TokenBucket(get_rate, clock=clock, sleep=sleep)
        self.start_limiter = TokenBucket(start_rate, clock=clock, sleep=sleep)
        self.list_limiter = TokenBucket(list_rate, clock=clock, sleep=sleep)
        self.run_id = run_id
        self.sweep_interval = sweep_interval if run_id else math.inf
        self.next_sweep = clock() + self.sweep_interval

        self.total = len(specs)
        # Largest media first: a job's duration grows with its audio, and a long job started
        # last would keep the run going alone (longest-processing-time-first scheduling).
        self.pending: deque[JobSpec] = deque(sorted(specs, key=lambda spec: -(spec.item.size or 0)))
        self.in_flight: dict[str, _Job] = {}
        self.results: list[TranscriptionResult | None] = [None] * len(specs)
        self.window = max_in_flight
        self.start_attempts = 0  # failed attempts to start the head of ``pending``
        self.start_not_before = 0.0
        self.started = self.completed = self.failed = 0

    def run(self) -> list[TranscriptionResult]:
        while self.pending or self.in_flight:
            self._start_what_fits()
            self._poll_or_wait()
        done = [result for result in self.results if result is not None]
        assert len(done) == self.total, "every input leaves the loop with a result"
        return done

    # -- starting ---------------------------------------------------------------------------

    def _start_what_fits(self) -> None:
        while (
            self.pending
            and len(self.in_flight) < self.window
            and self.clock() >= self.start_not_before
        ):
            spec = self.pending[0]
            self.start_limiter.acquire()
            request = start_request(
                spec, output_bucket=self.output_bucket, language_code=self.language_code
            )
            try:
                self.transcribe.start_transcription_job(**request)
            except (ClientError, BotoCoreError) as exc:
                self._start_refused(spec, exc)
            else:
                self._launch(spec, adopted=False)

    def _launch(self, spec: JobSpec, *, adopted: bool) -> None:
        self.pending.popleft()
        self.start_attempts = 0
        now = self.clock()
        # An adopted job may be finished already, so look at it at once.
        first_poll = now if adopted else now + self.poll_interval
        self.in_flight[spec.job_name] = _Job(
            spec, now + self.job_timeout, first_poll, adopted, launched=now
        )
        self.started += 1
        self._emit("adopted" if adopted else "started", spec)

    def _start_refused(self, spec: JobSpec, exc: ClientError | BotoCoreError) -> None:
        code, reason = error_code(exc), describe_error(exc)
        if code == "ConflictException":
            self._launch(spec, adopted=True)
        elif code == "LimitExceededException" and self.in_flight:
            self.window = len(self.in_flight)
            self._emit("retrying", spec, f"{reason}; window shrunk to {self.window} running jobs")
        elif not is_retryable(exc):
            self.pending.popleft()
            self._fail(spec, f"start failed: {reason}")
        else:
            self.start_attempts += 1
            if self.start_attempts >= self.max_start_attempts:
                self.pending.popleft()
                attempts, self.start_attempts = self.start_attempts, 0
                self._fail(spec, f"start failed after {attempts} attempts: {reason}")
                return
            delay = backoff_delay(self.start_attempts, self.backoff_base, self.backoff_cap)
            self.start_not_before = self.clock() + delay
            self._emit("retrying", spec, f"{reason}; next start attempt in {delay:.1f} s")

    # -- polling ----------------------------------------------------------------------------

    def _poll_or_wait(self) -> None:
        """Sweep, or poll the most overdue job, or sleep until a sweep, a poll or a start is due."""
        now = self.clock()
        wake = math.inf
        if self.pending and len(self.in_flight) < self.window:
            wake = self.start_not_before
        job = min(self.in_flight.values(), key=lambda j: j.next_poll, default=None)
        if job is not None:
            wake = min(wake, job.next_poll, self.next_sweep)
        if wake == math.inf:  # nothing in flight and nothing startable: the run is over
            return
        if wake > now:
            self.sleep(wake - now)
        elif job is not None and self.next_sweep <= now:
            self._sweep()
        elif job is not None and job.next_poll <= now:
            self._poll(job)

    def _sweep(self) -> None:
        """List the run's IN_PROGRESS jobs; poll at once every in-flight job not listed."""
        started = self.clock()
        running: set[str] = set()
        request = {"Status": "IN_PROGRESS", "JobNameContains": self.run_id, "MaxResults": 100}
        try:
            while True:
                self.list_limiter.acquire()
                page = self.transcribe.list_transcription_jobs(**request)
                listed = page.get("TranscriptionJobSummaries", [])
                running |= {job["TranscriptionJobName"] for job in listed}
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
        except (ClientError, BotoCoreError) as exc:
            if not is_retryable(exc):  # e.g. AccessDenied: polling alone still finds every job
                self.sweep_interval = math.inf
            self.next_sweep = self.clock() + self.sweep_interval
            return
        for job in self.in_flight.values():
            # Not listed: finished (or failed) since it started: ask now. A listed job keeps its
            # regular poll, the safety net (and the only place its timeout is checked).
            if job.spec.job_name not in running and job.launched < started:
                job.next_poll = min(job.next_poll, started)
        self.next_sweep = self.clock() + self.sweep_interval

    def _poll(self, job: _Job) -> None:
        name = job.spec.job_name
        self.get_limiter.acquire()
        try:
            details = self.transcribe.get_transcription_job(TranscriptionJobName=name)[
                "TranscriptionJob"
            ]
        except (ClientError, BotoCoreError) as exc:
            if is_retryable(exc):
                self._wait_or_time_out(job, f"GetTranscriptionJob {describe_error(exc)}")
            else:
                self._fail(job.spec, f"GetTranscriptionJob {name} failed: {describe_error(exc)}")
            return
        status = details.get("TranscriptionJobStatus")
        media_uri = details.get("Media", {}).get("MediaFileUri")
        if job.adopted and media_uri and media_uri != job.spec.media_uri:
            self._fail(job.spec, f"job {name} already exists for {media_uri}, not this file")
        elif status == "COMPLETED":
            self._collect(job)
        elif status == "FAILED":
            reason = details.get("FailureReason") or "no FailureReason given"
            self._fail(job.spec, f"job {name} FAILED: {reason}")
        else:
            self._wait_or_time_out(job, str(status))

    def _wait_or_time_out(self, job: _Job, last_seen: str) -> None:
        now = self.clock()
        if now >= job.deadline:
            self._fail(
                job.spec,
                f"timeout: job {job.spec.job_name} not finished after {self.job_timeout:g} s "
                f"(last seen: {last_seen})",
            )
        else:
            job.next_poll = now + self.poll_interval

    def _collect(self, job: _Job) -> None:
        spec = job.spec
        try:
            transcript = read_transcript(self.s3, self.output_bucket, spec.transcript_key)
        except TranscriptError as exc:
            self._fail(spec, f"unreadable output of job {spec.job_name}: {exc}")
            return
        self._finish(spec, "ok", transcript.text, None, transcript.speech_seconds)

    # -- results ----------------------------------------------------------------------------

    def _fail(self, spec: JobSpec, error: str) -> None:
        self._finish(spec, "failed", None, error, None)

    def _finish(
        self,
        spec: JobSpec,
        status: Status,
        transcript: str | None,
        error: str | None,
        audio_seconds: float | None,
    ) -> None:
        if self.in_flight.pop(spec.job_name, None) is not None:
            self.window = min(self.max_in_flight, self.window + 1)
        self.results[spec.index] = TranscriptionResult(
            file=spec.item.file,
            audio_key=spec.item.audio_key,
            job_name=spec.job_name,
            transcript_key=spec.transcript_key,
            status=status,
            transcript=transcript,
            error=error,
            audio_seconds=audio_seconds,
        )
        if status == "ok":
            self.completed += 1
            self._emit("completed", spec)
        else:
            self.failed += 1
            self._emit("failed", spec, error)

    def _emit(self, kind: EventKind, spec: JobSpec, detail: str | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(
                ProgressEvent(
                    kind=kind,
                    file=spec.item.file,
                    job_name=spec.job_name,
                    total=self.total,
                    started=self.started,
                    completed=self.completed,
                    failed=self.failed,
                    in_flight=len(self.in_flight),
                    detail=detail,
                )
            )


def transcribe_corpus(
    items: Sequence[CorpusItem],
    *,
    transcribe: BaseClient,
    s3: BaseClient,
    media_bucket: str,
    output_bucket: str,
    run_id: str,
    language_code: str = "en-US",
    max_in_flight: int = 250,
    poll_interval: float = 30.0,
    job_timeout: float = 3600.0,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    get_rate: float = 20.0,
    start_rate: float = 20.0,
    max_start_attempts: int = 8,
    backoff_base: float = 1.0,
    backoff_cap: float = 60.0,
    sweep_interval: float = 2.0,
    list_rate: float = 4.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[TranscriptionResult]:
    """Transcribe every item; return exactly one result per item, in input order.

    Items without a reference are transcribed too (the caller scores them as failed). Output goes
    to ``s3://output_bucket/transcripts/<run_id>/<stem>.json``. ``job_timeout`` counts from the
    moment a job was started or adopted; a timed-out job is left running in AWS. The defaults
    use Transcribe's default quotas (250 concurrent jobs: a LimitExceeded shrinks the window to
    the slots other work leaves; 20 of 25 Start, 20 of 30 Get and 4 of 5 List calls per second),
    which bench/orchestration.py measures at 1.04 times the best possible makespan for 5,000
    files. Pass a client built with ``transcribe_client_config()``.
    """
    settings = {
        "max_in_flight": max_in_flight,
        "poll_interval": poll_interval,
        "job_timeout": job_timeout,
        "get_rate": get_rate,
        "start_rate": start_rate,
        "max_start_attempts": max_start_attempts,
        "backoff_base": backoff_base,
        "backoff_cap": backoff_cap,
        "sweep_interval": sweep_interval,
        "list_rate": list_rate,
    }
    invalid = {name: value for name, value in settings.items() if not value > 0}
    if invalid:
        raise ConfigurationError(f"transcribe_corpus settings must be positive: {invalid}")
    specs = plan_jobs(items, run_id=run_id, media_bucket=media_bucket)
    return _Run(
        specs,
        transcribe=transcribe,
        s3=s3,
        output_bucket=output_bucket,
        language_code=language_code,
        max_in_flight=max_in_flight,
        poll_interval=poll_interval,
        job_timeout=job_timeout,
        get_rate=get_rate,
        start_rate=start_rate,
        max_start_attempts=max_start_attempts,
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
        on_progress=on_progress,
        run_id=run_id,
        sweep_interval=sweep_interval,
        list_rate=list_rate,
        clock=clock,
        sleep=sleep,
    ).run()
