"""Transcribe's request quotas, enforced as AWS does: errors with AWS's codes and messages.

The exceptions subclass moto's JsonRESTError, so moto's own response layer serialises them as
`{"__type": ..., "message": ...}` and boto3 raises ClientError with the real error code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from moto.core.exceptions import JsonRESTError


class LimitExceededException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "LimitExceededException", "You have too many jobs running at the same time."
        )


class ThrottlingException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ThrottlingException", "Rate exceeded")


class BadRequestException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("BadRequestException", message)


class TokenBucket:
    """`rate` requests per second on average, bursts up to `rate` (AWS's TPS quotas behave so)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take one token if there is one; False means the caller is throttled."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
