"""A run's Transcribe progress for a log: the counts every few seconds, not a line per event.

The orchestrator reports every job event (``ProgressEvent``); a log of a thousand-file run
wants the counts (queued, running, done, failed) now and then instead, which ``ProgressLog``
writes: when they changed and ``interval`` seconds passed since its last line, and at once when
every file is done. A failed file's reason is written at once (one line per file), and start
retries (throttling) are counted in the next line with the latest reason. ``count_line`` is the
wording, shared with ``make e2e``'s count. Runs on the notebook instance: Python 3.10, standard
library only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.transcribe.orchestrator import ProgressEvent

DEFAULT_INTERVAL_SECONDS = 5.0


def count_line(total: int, queued: int, running: int, done: int, failed: int) -> str:
    """E.g. "12 files: 3 queued, 2 running, 6 done, 1 failed"."""
    return f"{total} files: {queued} queued, {running} running, {done} done, {failed} failed"


class ProgressLog:
    """Give it every ProgressEvent (``on_progress=ProgressLog(print)``); it writes lines."""

    def __init__(
        self,
        write: Callable[[str], None],
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.interval = interval
        self.clock = clock
        self._last_line: str | None = None
        self._last_at: float | None = None
        self._retries = 0
        self._retry_reason = ""

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "failed":
            self.write(f"transcribe: {event.file} failed: {event.detail}")
        elif event.kind == "retrying":
            self._retries += 1
            self._retry_reason = event.detail or ""
        finished = event.completed + event.failed >= event.total
        queued = event.total - event.completed - event.failed - event.in_flight
        line = count_line(event.total, queued, event.in_flight, event.completed, event.failed)
        if self._retries:
            line += f"; {self._retries} start retries (latest: {self._retry_reason})"
        now = self.clock()
        due = self._last_at is None or now - self._last_at >= self.interval
        if line != self._last_line and (due or finished):
            self.write(f"transcribe: {line}")
            self._last_line, self._last_at = line, now
