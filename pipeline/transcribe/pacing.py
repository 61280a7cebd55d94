"""Rate limiting and back-off for calls to Transcribe.

Transcribe limits calls per second per account (StartTranscriptionJob 25, GetTranscriptionJob 30).
A token bucket shared by all jobs of a run keeps the whole run under a chosen rate, however many
jobs are in flight; polling each job on its own timer would scale calls with the window instead.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as AwsConnectionError

from pipeline.errors import error_code

# botocore counts LimitExceededException as throttling and retries it too. Keep its attempts few:
# while botocore sleeps, this single-threaded orchestrator polls nothing, and LimitExceeded is
# better answered by waiting for our own jobs to finish (see orchestrator.py).
CLIENT_MAX_ATTEMPTS = 4


def transcribe_client_config(max_attempts: int = CLIENT_MAX_ATTEMPTS) -> Config:
    """Transcribe client config: botocore's "standard" retries (exponential back-off, jitter).

    Not "adaptive": its client-side limiter would read every LimitExceededException (which the
    orchestrator expects while it probes the account's job quota) as overload and slow down the
    GetTranscriptionJob polling too. Call rates are already bounded by this module's buckets.
    """
    return Config(retries={"mode": "standard", "max_attempts": max_attempts})


_ROUNDING = 1e-9


class TokenBucket:
    """Allows ``rate`` acquisitions per second on average, with bursts of at most ``burst``.

    ``acquire()`` waits for a token (a client pacing its calls); ``take()`` never waits and
    says whether a token was free (a service throttling its callers: the twin's Transcribe).
    Thread-safe.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self) -> bool:
        """Take one token if one is free now; False means the caller is throttled."""
        with self._lock:
            self._refill()
            # A token short by float rounding is a token: after sleeping exactly the wait that
            # acquire() computed, the clock may not add up to 1 again (a virtual clock at 1e3 s).
            if self._tokens < 1 - _ROUNDING:
                return False
            self._tokens -= 1
            return True

    def acquire(self) -> None:
        """Take one token, sleeping until one is available."""
        while not self.take():
            with self._lock:
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off with equal jitter: between half and all of min(cap, base * 2**n).

    Jitter spreads retries from parallel runs apart; keeping half the delay fixed guarantees
    that every retry actually waits.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


# Start/Get errors worth retrying: throttles, quota pressure and server-side faults. Anything
# else (BadRequestException, AccessDenied, ...) fails the file at once with AWS's message.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailureException",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def describe_error(exc: ClientError | BotoCoreError) -> str:
    """``"<Code>: <message>"``, the form failure reasons take in results."""
    if isinstance(exc, ClientError):
        return f"{error_code(exc)}: {exc.response.get('Error', {}).get('Message', '')}"
    return f"{error_code(exc)}: {exc}"


def is_retryable(exc: ClientError | BotoCoreError) -> bool:
    """Transport failures (timeouts, dropped connections) are retried like throttles; local
    faults such as ParamValidationError or NoCredentialsError are not."""
    if isinstance(exc, ClientError):
        return error_code(exc) in RETRYABLE_CODES
    return isinstance(exc, AwsConnectionError | HTTPClientError)
