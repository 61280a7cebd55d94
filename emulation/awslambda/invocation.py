"""What the twin records of one execution of a Lambda handler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Invocation:
    """One execution of a handler, as the twin saw it."""

    function_name: str
    function_arn: str
    request_id: str
    invocation_type: str  # "RequestResponse" | "Event"
    source: str  # "invoke" | "s3" | "sns" | "schedule" | "events" | "destination"
    attempt: int
    event: Any
    payload: str  # JSON text returned to the caller (result or AWS's error object)
    result: Any  # the handler's return value (None when it failed)
    error: str | None  # "<errorType>: <errorMessage>"
    traceback: str | None
    logs: str
    started_at: datetime
    duration: float
    max_memory_mb: int

    @property
    def ok(self) -> bool:
        return self.error is None
