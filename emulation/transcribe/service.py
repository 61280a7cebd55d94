"""The twin's Transcribe: moto's API and job store, with real jobs run by real speech engines.

moto already parses requests, stores jobs, lists, deletes and raises ConflictException for a
duplicate name. It fakes everything else: status advances one step per Get and no transcript is
ever written. This part patches two seams of moto's *models* (never its wire protocol):

* `moto.transcribe.models.FakeTranscriptionJob` becomes `EngineTranscriptionJob`, whose status is
  whatever the service last set and whose Get shows FailureReason and, for the service-managed
  bucket, a presigned TranscriptFileUri;
* `TranscribeBackend`'s start, get, list and delete first validate the request as the service
  model says (validation.py), then apply AWS's rules: StartTranscriptionJob throttling, the
  parameter rules and the twin's refusals (rules.py), the concurrent-job quota; listing pages
  newest first (listing.py); a job that has not finished cannot be deleted.

Statuses as AWS reports them: StartTranscriptionJob answers IN_PROGRESS with a StartTime (the
API reference's example response; AWS's own queueing behind its capacity is invisible). QUEUED
only means job queueing: with JobExecutionSettings.AllowDeferredExecution a job over the
concurrent-job quota waits, QUEUED and without StartTime, instead of LimitExceededException
(JobExecutionSettings, API reference). Workers take IN_PROGRESS jobs in order; a job waiting for
a free worker still shows IN_PROGRESS, as it would on AWS.

Workers read the media from S3 over HTTP (as Transcribe reads your bucket), decode it, run the
engine and write Amazon's transcript JSON where AWS would, then complete the job. S3 is the
twin's own, or the backend's named by ``TranscribeConfig.aws_env`` (LocalStack's, when the twin
serves only SageMaker and Transcribe beside it).
"""

from __future__ import annotations

import functools
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
from emulation.transcribe.listing import ListQuery, list_jobs
from emulation.transcribe.output import (
    OutputLocation,
    customer_output_location,
    service_output_location,
    transcript_document,
)
from emulation.transcribe.rules import check_start
from emulation.transcribe.storage import Storage, check_caller_access
from emulation.transcribe.validation import check_request, request_from_moto
from pipeline.transcribe.pacing import TokenBucket

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from emulation.core.twin import Twin

ACTIVE = ("QUEUED", "IN_PROGRESS")
START = "StartTranscriptionJob"
# "Temporary URIs for service-managed Amazon S3 buckets are only valid for 15 minutes"; each
# GetTranscriptionJob hands out a new one (API reference, Transcript).
PRESIGNED_URL_SECONDS = 15 * 60
# The BadRequestException documentation says a delete is refused while the job is in a
# non-terminal state; the full text is not public (clients match "couldn't be deleted").
DELETE_UNFINISHED = (
    "The requested job couldn't be deleted because it hasn't finished. "
    "Wait until its status is COMPLETED or FAILED and try your request again."
)


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
    max_concurrent_jobs: int = 250  # IN_PROGRESS jobs per account and region (AWS default)
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
        self._status = "IN_PROGRESS"
        # Service-managed bucket: a fresh presigned TranscriptFileUri for every Get.
        self.presign: Callable[[], str] | None = None

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
        if response_type == "GET":
            job = response["TranscriptionJob"]
            if self.failure_reason:
                job["FailureReason"] = self.failure_reason
            if self.presign is not None and self.status == "COMPLETED":
                job["Transcript"] = {"TranscriptFileUri": self.presign()}
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
        self._deferred: list[_Work] = []  # QUEUED by job queueing, oldest first
        self._workers: list[threading.Thread] = []
        self._generation = 0
        self._patches = Patches()
        self._installed = False
        clients = EnvClients(self.config.aws_env) if self.config.aws_env else twin
        # SigV4, so presigned TranscriptFileUris carry X-Amz-Expires as AWS's do.
        s3 = clients.client("s3", signature_version="s3v4")
        self._storage = Storage(s3, self.config.max_media_bytes)

    # -- TwinPart ---------------------------------------------------------------------------
    def install(self) -> None:
        if self._installed:
            return
        service, backend_class = self, moto_transcribe.TranscribeBackend
        original_start = self._patches.replace(
            backend_class,
            "start_transcription_job",
            lambda backend, **kwargs: service._start(backend, original_start, kwargs),
        )
        original_get = self._patches.replace(
            backend_class,
            "get_transcription_job",
            lambda backend, **kwargs: service._get(backend, original_get, kwargs),
        )
        original_delete = self._patches.replace(
            backend_class,
            "delete_transcription_job",
            lambda backend, **kwargs: service._delete(backend, original_delete, kwargs),
        )
        self._patches.replace(
            backend_class,
            "list_transcription_jobs",
            lambda backend, **kwargs: service._list(backend, kwargs),
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
            self._deferred.clear()
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
        """Change the quotas at runtime (the rate bucket starts full again; QUEUED jobs start if
        the new quota leaves room)."""
        changes: dict[str, Any] = {}
        if max_concurrent_jobs is not None:
            changes["max_concurrent_jobs"] = max_concurrent_jobs
        if start_requests_per_second is not None:
            changes["start_requests_per_second"] = start_requests_per_second
        with self._lock:
            self.config = replace(self.config, **changes)
            self._buckets.clear()
            self._start_deferred()
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

    # -- the API ----------------------------------------------------------------------------
    def _start(self, backend: Any, original: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        name = kwargs["transcription_job_name"]
        scope = (backend.account_id, backend.region_name)
        with self._lock:
            rate = self.config.start_requests_per_second
            bucket = self._buckets.setdefault(scope, TokenBucket(rate, burst=max(1.0, rate)))
            if self._faults.should_throttle() or not bucket.take():
                raise ThrottlingException()
        request = request_from_moto(START, kwargs)
        check_request(START, request)
        check_start(request)
        location = self._output_location(backend, kwargs, name)
        media_uri = (kwargs.get("media") or {}).get("MediaFileUri", "")
        check_caller_access(self.twin, media_uri, location, kwargs.get("output_bucket_name"))
        with self._lock:
            # A repeated name gets moto's ConflictException, whatever the quota.
            deferred = (
                name not in backend.transcriptions
                and self._running(scope) >= self.config.max_concurrent_jobs
            )
            if deferred and not (request.get("JobExecutionSettings") or {}).get(
                "AllowDeferredExecution"
            ):
                raise LimitExceededException()
            original(backend, **kwargs)
            job = backend.transcriptions[name]
            service_bucket = not kwargs.get("output_bucket_name")
            if service_bucket:
                job.presign = functools.partial(
                    self._storage.presigned_url, location, PRESIGNED_URL_SECONDS
                )
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
            work = _Work(record, job, location, service_bucket, self._generation)
            job.status = "QUEUED"
            if deferred:
                self._deferred.append(work)
            else:
                self._begin(work)
            self._changed.notify_all()
            return job.response_object("CREATE")

    def _get(self, backend: Any, original: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        check_request("GetTranscriptionJob", request_from_moto("GetTranscriptionJob", kwargs))
        return original(backend, **kwargs)

    def _delete(self, backend: Any, original: Any, kwargs: dict[str, Any]) -> None:
        check_request("DeleteTranscriptionJob", request_from_moto("DeleteTranscriptionJob", kwargs))
        with self._lock:
            job = backend.transcriptions.get(kwargs["transcription_job_name"])
            if job is not None and job.status in ACTIVE:
                raise BadRequestException(DELETE_UNFINISHED)
            original(backend, **kwargs)

    def _list(self, backend: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        query = ListQuery(
            status=kwargs.get("state_equals"),
            name_contains=kwargs.get("job_name_contains"),
            next_token=kwargs.get("next_token"),
            max_results=kwargs.get("max_results"),
        )
        request = {
            "Status": query.status,
            "JobNameContains": query.name_contains,
            "NextToken": query.next_token,
            "MaxResults": query.max_results,
        }
        check_request("ListTranscriptionJobs", {k: v for k, v in request.items() if v is not None})
        with self._lock:
            return list_jobs(list(backend.transcriptions.values()), query)

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

    def _running(self, scope: tuple[str, str]) -> int:
        """IN_PROGRESS jobs of one account and region: what the concurrent-job quota counts."""
        return sum(
            1
            for r in self._records
            if (r.account_id, r.region) == scope and r.status == "IN_PROGRESS"
        )

    def _begin(self, work: _Work) -> None:
        """IN_PROGRESS with a StartTime, and handed to the workers (the lock is held)."""
        work.job.start_time = work.record.started_at = utcnow()
        work.job.status = work.record.status = "IN_PROGRESS"
        self._queue.put(work)

    def _start_deferred(self) -> None:
        """Start QUEUED jobs, oldest first, while their account has room (the lock is held)."""
        for work in list(self._deferred):
            scope = (work.record.account_id, work.record.region)
            if self._running(scope) < self.config.max_concurrent_jobs:
                self._deferred.remove(work)
                self._begin(work)

    def _run(self, work: _Work) -> None:
        record, job = work.record, work.job
        started = time.perf_counter()
        try:
            words, media_seconds = self._transcribe(work)
            document = transcript_document(
                record.name,
                record.account_id,
                words,
                media_seconds,
                show_speaker_labels=bool((job.settings or {}).get("ShowSpeakerLabels")),
            )
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
                if changes["status"] not in ACTIVE:
                    self._start_deferred()
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
