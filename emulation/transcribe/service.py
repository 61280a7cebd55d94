"""The twin's Transcribe: moto's API and job store, with real jobs run by real speech engines.

moto already parses requests, stores jobs, lists, deletes and raises ConflictException for a
duplicate name. It fakes everything else: status advances one step per Get and no transcript is
ever written. This part patches two seams of moto's *models* (never its wire protocol):

* `moto.transcribe.models.FakeTranscriptionJob` becomes `EngineTranscriptionJob`, whose status is
  whatever the worker last set (QUEUED -> IN_PROGRESS -> COMPLETED | FAILED) and whose Get shows
  FailureReason;
* `TranscribeBackend.start_transcription_job` first applies AWS's quotas and rules (throttling,
  concurrent-job limit, language options), then lets moto create the job and queues it here.

Workers read the media from S3 over HTTP (as Transcribe reads your bucket), decode it, run the
engine and write Amazon's transcript JSON where AWS would, then complete the job. S3 is the
twin's own, or the backend's named by ``TranscribeConfig.aws_env`` (LocalStack's, when the twin
serves only SageMaker and Transcribe beside it).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from moto.core.utils import utcnow
from moto.transcribe import models as moto_transcribe

from emulation.core.backends import EnvClients
from emulation.core.patching import Patches
from emulation.transcribe.audio import decode_media
from emulation.transcribe.engines import (
    DEFAULT_ENGINE,
    EngineOptions,
    check_engine_name,
    get_engine,
)
from emulation.transcribe.errors import EngineError, JobFailure
from emulation.transcribe.exceptions import (
    BadRequestException,
    LimitExceededException,
    ThrottlingException,
)
from emulation.transcribe.faults import INJECTED_FAILURE, FaultInjector, Faults
from emulation.transcribe.output import (
    OutputLocation,
    customer_output_location,
    service_output_location,
    transcript_document,
)
from emulation.transcribe.storage import Storage, check_caller_access
from pipeline.transcribe.pacing import TokenBucket

if TYPE_CHECKING:
    from datetime import datetime

    from emulation.core.twin import Twin

ACTIVE = ("QUEUED", "IN_PROGRESS")
# Twin wording for two checks whose AWS text is not documented.
LANGUAGE_CHOICE = (
    "You must specify exactly one of LanguageCode, IdentifyLanguage or IdentifyMultipleLanguages."
)
ENGLISH_ONLY = "The twin's speech engines transcribe English only; {language} is not supported."


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """One single-threaded worker per core, up to 4: measured on 2 cores, two workers with one
    CTranslate2 thread each finish a batch of short clips ~1.5x faster than one worker with two."""
    return max(1, min(4, available_cores()))


@dataclass(frozen=True)
class TranscribeConfig:
    engine: str = DEFAULT_ENGINE
    workers: int = field(default_factory=default_workers)
    threads_per_worker: int | None = None  # None: cores // workers, so workers*threads ~ cores
    beam_size: int = 5  # best WER on the sample corpus; beam 1 is ~15% faster, 3 points worse
    max_concurrent_jobs: int = 250  # QUEUED + IN_PROGRESS per account and region (AWS default)
    start_requests_per_second: float = 25.0  # StartTranscriptionJob TPS (AWS default)
    min_media_seconds: float = 0.5
    max_media_seconds: float = 4 * 3600.0
    max_media_bytes: int = 2 * 1024**3
    faults: Faults = field(default_factory=Faults)
    # Where media is read and transcripts written: a backend's client_env (its S3 endpoint).
    # None: the twin's own S3.
    aws_env: dict[str, str] | None = None

    def __post_init__(self) -> None:
        check_engine_name(self.engine)
        if self.workers < 1:
            raise EngineError(f"TranscribeConfig.workers must be >= 1, got {self.workers}")

    def engine_options(self) -> EngineOptions:
        threads = self.threads_per_worker or max(1, available_cores() // self.workers)
        return EngineOptions(threads=threads, workers=self.workers, beam_size=self.beam_size)


@dataclass
class JobRecord:
    """What the twin knows about one job, for inspection (snapshots are handed out)."""

    name: str
    account_id: str
    region: str
    status: str
    media_uri: str
    engine: str
    output_bucket: str
    output_key: str
    transcript_uri: str
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    audio_seconds: float | None = None
    processing_seconds: float | None = None
    failure_reason: str | None = None


class EngineTranscriptionJob(moto_transcribe.FakeTranscriptionJob):
    """moto's job whose status is set by a worker, never advanced by a Get."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._status = "QUEUED"

    @property
    def status(self) -> str | None:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value

    def advance(self) -> None:
        """The worker moves the job; Get only reads."""

    def response_object(self, response_type: str) -> dict[str, Any]:  # type: ignore[override]
        response = super().response_object(response_type)
        if response_type == "GET" and self.failure_reason:
            response["TranscriptionJob"]["FailureReason"] = self.failure_reason
        return response


@dataclass
class _Work:
    record: JobRecord
    job: EngineTranscriptionJob
    location: OutputLocation
    service_bucket: bool  # no OutputBucketName: the twin's stand-in for the service's bucket
    generation: int


class TranscribeService:
    """The Transcribe part of the twin (a TwinPart): install(), reset(), uninstall()."""

    def __init__(self, twin: Twin, config: TranscribeConfig | None = None) -> None:
        self.twin = twin
        self.config = self._base_config = config or TranscribeConfig()
        self._engine = self.config.engine
        self._faults = FaultInjector(self.config.faults)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._records: list[JobRecord] = []
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._generation = 0
        self._patches = Patches()
        self._installed = False
        s3 = EnvClients(self.config.aws_env).client("s3") if self.config.aws_env else None
        self._storage = Storage(s3 or twin.client("s3"), self.config.max_media_bytes)

    # -- TwinPart ---------------------------------------------------------------------------
    def install(self) -> None:
        if self._installed:
            return
        service = self
        original_start = self._patches.replace(
            moto_transcribe.TranscribeBackend,
            "start_transcription_job",
            lambda backend, **kwargs: service._start(backend, original_start, kwargs),
        )
        self._patches.replace(moto_transcribe, "FakeTranscriptionJob", EngineTranscriptionJob)
        self._installed = True
        for index in range(self.config.workers):
            worker = threading.Thread(
                target=self._work, name=f"transcribe-worker-{index}", daemon=True
            )
            worker.start()
            self._workers.append(worker)

    def reset(self) -> None:
        """Forget every job (queued ones never run, running ones finish without writing) and
        go back to the constructed config's engine, quotas and faults."""
        with self._lock:
            self._generation += 1
            self._records.clear()
            self._buckets.clear()
            self.config = self._base_config
            self._faults.set(self.config.faults)
            self._engine = self.config.engine
            self._changed.notify_all()

    def uninstall(self, timeout: float = 10.0) -> None:
        """Put moto back; workers stop after their current job (which writes nothing)."""
        if not self._installed:
            return
        self._patches.restore()
        self._installed = False
        with self._lock:
            self._generation += 1
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout)
        self._workers = []

    # -- inspection and control -------------------------------------------------------------
    @property
    def jobs(self) -> list[JobRecord]:
        """Snapshots of every job since the last reset, oldest first."""
        with self._lock:
            return [replace(record) for record in self._records]

    def job(self, name: str) -> JobRecord | None:
        """The latest job with this name (names are reusable after DeleteTranscriptionJob)."""
        with self._lock:
            for record in reversed(self._records):
                if record.name == name:
                    return replace(record)
        return None

    @property
    def faults(self) -> Faults:
        return self._faults.faults

    def set_faults(self, faults: Faults | None = None, **changes: float) -> Faults:
        """Replace the faults (`set_faults(Faults(...))`) or change some (`fail_fraction=1`)."""
        if faults is not None:
            self._faults.set(replace(faults, **changes))
            return self._faults.faults
        return self._faults.update(**changes)

    def set_quotas(
        self,
        *,
        max_concurrent_jobs: int | None = None,
        start_requests_per_second: float | None = None,
    ) -> TranscribeConfig:
        """Change the quotas at runtime (the rate bucket starts full again)."""
        changes: dict[str, Any] = {}
        if max_concurrent_jobs is not None:
            changes["max_concurrent_jobs"] = max_concurrent_jobs
        if start_requests_per_second is not None:
            changes["start_requests_per_second"] = start_requests_per_second
        with self._lock:
            self.config = replace(self.config, **changes)
            self._buckets.clear()
        return self.config

    @property
    def engine(self) -> str:
        return self._engine

    def set_engine(self, name: str) -> None:
        """Engine for jobs started from now on; jobs already queued keep theirs."""
        check_engine_name(name)
        self._engine = name

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no job is QUEUED or IN_PROGRESS; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while any(record.status in ACTIVE for record in self._records):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    # -- StartTranscriptionJob --------------------------------------------------------------
    def _start(self, backend: Any, original: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        name = kwargs["transcription_job_name"]
        scope = (backend.account_id, backend.region_name)
        with self._lock:
            rate = self.config.start_requests_per_second
            bucket = self._buckets.setdefault(scope, TokenBucket(rate, burst=max(1.0, rate)))
            if self._faults.should_throttle() or not bucket.take():
                raise ThrottlingException()
            choices = [
                kwargs.get("language_code"),
                kwargs.get("identify_language"),
                kwargs.get("identify_multiple_languages"),
            ]
            if sum(1 for choice in choices if choice) != 1:
                raise BadRequestException(LANGUAGE_CHOICE)
            if name not in backend.transcriptions:  # else moto raises ConflictException
                active = sum(
                    1
                    for r in self._records
                    if (r.account_id, r.region) == scope and r.status in ACTIVE
                )
                if active >= self.config.max_concurrent_jobs:
                    raise LimitExceededException()
            location = self._output_location(backend, kwargs, name)
            media_uri = (kwargs.get("media") or {}).get("MediaFileUri", "")
            check_caller_access(self.twin, media_uri, location, kwargs.get("output_bucket_name"))
            response = original(backend, **kwargs)
            job = backend.transcriptions[name]
            record = JobRecord(
                name=name,
                account_id=backend.account_id,
                region=backend.region_name,
                status="QUEUED",
                media_uri=(kwargs.get("media") or {}).get("MediaFileUri", ""),
                engine=self._engine,
                output_bucket=location.bucket,
                output_key=location.key,
                transcript_uri=location.uri(backend.region_name),
                created_at=job.creation_time,
            )
            self._records.append(record)
            service_bucket = not kwargs.get("output_bucket_name")
            self._queue.put(_Work(record, job, location, service_bucket, self._generation))
            self._changed.notify_all()
        return response

    @staticmethod
    def _output_location(backend: Any, kwargs: dict[str, Any], name: str) -> OutputLocation:
        bucket = kwargs.get("output_bucket_name")
        if bucket:
            return customer_output_location(bucket, kwargs.get("output_key"), name)
        return service_output_location(
            backend.account_id, backend.region_name, name, str(uuid.uuid4())
        )

    # -- workers ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            if work.generation != self._generation:
                continue
            self._run(work)

    def _run(self, work: _Work) -> None:
        record, job = work.record, work.job
        started = time.perf_counter()
        job.start_time = utcnow()
        self._update(work, status="IN_PROGRESS", started_at=job.start_time)
        try:
            words, media_seconds = self._transcribe(work)
            document = transcript_document(record.name, record.account_id, words)
            if work.generation != self._generation:
                return
            self._storage.write_transcript(
                work.location, document, service_bucket=work.service_bucket
            )
        except JobFailure as failure:
            self._finish(work, started, failure_reason=failure.reason)
        except Exception as exc:  # a bug or an engine crash must still end the job honestly
            self.twin.record_error(
                "transcribe",
                f"transcription job {record.name} crashed: {exc!r}",
                traceback=traceback.format_exc(),
                job=record.name,
                media=record.media_uri,
            )
            self._finish(work, started, failure_reason=f"Internal failure: {exc}")
        else:
            self._finish(work, started, audio_seconds=media_seconds)

    def _transcribe(self, work: _Work) -> tuple[list[Any], float]:
        record, job = work.record, work.job
        faults = self._faults.faults
        if faults.extra_latency_seconds:
            time.sleep(faults.extra_latency_seconds)
        if self._faults.should_fail():
            raise JobFailure(record.name, INJECTED_FAILURE)
        language = job.language_code
        if job.identify_language or job.identify_multiple_languages:
            language = "en-US"  # the engines know English only; report what AWS would find
            job.language_code = language
            job.identified_language_score = 1.0
        if language and not language.lower().startswith("en"):
            raise JobFailure(record.name, ENGLISH_ONLY.format(language=language))
        data = self._storage.read_media(record.media_uri, record.name)
        media = decode_media(
            data,
            record.name,
            expected_format=job.media_format,
            expected_rate=job.media_sample_rate_hertz,
            min_seconds=self.config.min_media_seconds,
            max_seconds=self.config.max_media_seconds,
        )
        job.media_format = job.media_format or media.media_format
        job.media_sample_rate_hertz = job.media_sample_rate_hertz or media.sample_rate
        self._update(work, audio_seconds=media.seconds)
        try:
            engine = get_engine(record.engine, self.config.engine_options())
        except Exception as exc:
            reason = f"Internal failure: speech engine {record.engine} failed to load: {exc}"
            raise JobFailure(record.name, reason) from exc
        return engine.transcribe(media.samples), media.seconds

    def _update(self, work: _Work, **changes: Any) -> None:
        with self._lock:
            if work.generation != self._generation:
                return
            for key, value in changes.items():
                setattr(work.record, key, value)
            if "status" in changes:
                work.job.status = changes["status"]
            self._changed.notify_all()

    def _finish(
        self,
        work: _Work,
        started: float,
        *,
        failure_reason: str | None = None,
        audio_seconds: float | None = None,
    ) -> None:
        job, now = work.job, utcnow()
        job.completion_time = now
        if failure_reason:
            job.failure_reason = failure_reason
            job.transcript = None
        else:
            job.transcript = {"TranscriptFileUri": work.record.transcript_uri}
            job.output_location_type = (
                "SERVICE_BUCKET" if work.service_bucket else "CUSTOMER_BUCKET"
            )
        changes: dict[str, Any] = {
            "status": "FAILED" if failure_reason else "COMPLETED",
            "completed_at": now,
            "processing_seconds": time.perf_counter() - started,
            "failure_reason": failure_reason,
        }
        if audio_seconds is not None:
            changes["audio_seconds"] = audio_seconds
        self._update(work, **changes)
