"""Errors of the Transcribe engine: a job's failure carries the FailureReason AWS would give."""

from __future__ import annotations

from emulation.core.errors import EmulationError, TwinConfigError


class EngineError(TwinConfigError):
    """A speech engine was named that is not registered, or cannot be loaded."""


class JobFailure(EmulationError):
    """A transcription job failed; `reason` is the FailureReason shown by GetTranscriptionJob."""

    def __init__(self, job_name: str, reason: str) -> None:
        super().__init__(f"transcription job {job_name!r} failed: {reason}")
        self.job_name = job_name
        self.reason = reason
