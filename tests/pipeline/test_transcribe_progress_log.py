"""The notebook's Transcribe log: the counts every few seconds, failures at once, the end."""

from __future__ import annotations

from pipeline.transcribe.orchestrator import ProgressEvent
from pipeline.transcribe.progress import ProgressLog, count_line


def event(kind: str, *, completed: int, failed: int, in_flight: int, detail: str | None = None):
    return ProgressEvent(
        kind=kind,  # type: ignore[arg-type]
        file=f"clip{completed + failed}.wav",
        job_name="job",
        total=4,
        started=completed + failed + in_flight,
        completed=completed,
        failed=failed,
        in_flight=in_flight,
        detail=detail,
    )


def test_counts_at_most_every_interval_failures_at_once_and_the_end_always() -> None:
    lines: list[str] = []
    now = [0.0]
    log = ProgressLog(lines.append, interval=5.0, clock=lambda: now[0])

    log(event("started", completed=0, failed=0, in_flight=1))  # t=0: first line
    now[0] = 1.0
    log(event("started", completed=0, failed=0, in_flight=2))  # too soon
    log(event("retrying", completed=0, failed=0, in_flight=2, detail="Throttling"))
    now[0] = 6.0
    log(event("completed", completed=1, failed=0, in_flight=1))  # due
    now[0] = 7.0
    log(event("failed", completed=1, failed=1, in_flight=0, detail="unsupported format"))
    log(event("started", completed=1, failed=1, in_flight=1))  # too soon, not the end
    log(event("completed", completed=2, failed=1, in_flight=0))  # too soon
    log(event("adopted", completed=2, failed=1, in_flight=1))
    now[0] = 8.0
    log(event("completed", completed=3, failed=1, in_flight=0))  # the end: at once

    assert lines == [
        "transcribe: 4 files: 3 queued, 1 running, 0 done, 0 failed",
        "transcribe: 4 files: 2 queued, 1 running, 1 done, 0 failed; "
        "1 start retries (latest: Throttling)",
        "transcribe: clip2.wav failed: unsupported format",
        "transcribe: 4 files: 0 queued, 0 running, 3 done, 1 failed; "
        "1 start retries (latest: Throttling)",
    ]


def test_the_count_wording_is_the_one_make_e2e_prints() -> None:
    from emulation.e2e.probes import job_counts

    jobs = [{"TranscriptionJobStatus": "COMPLETED"}, {"TranscriptionJobStatus": "IN_PROGRESS"}]
    assert job_counts(jobs, expected=3) == count_line(3, 1, 1, 1, 0)
    assert count_line(3, 1, 1, 1, 0) == "3 files: 1 queued, 1 running, 1 done, 0 failed"
