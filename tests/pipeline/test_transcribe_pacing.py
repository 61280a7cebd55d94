"""Token bucket, back-off and retry classification, with a fake clock where time matters."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from pipeline.transcribe import TokenBucket, transcribe_client_config
from pipeline.transcribe.pacing import backoff_delay, describe_error, error_code, is_retryable


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_calls_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(11):
        bucket.acquire()
    # The first call is free (burst 1); ten more at 5 per second take two seconds.
    assert clock.now - start == pytest.approx(2.0)


def test_token_bucket_allows_a_burst_after_idling() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    assert clock.slept == []
    clock.now += 10  # idle: refills to the burst size, not beyond
    for _ in range(3):
        bucket.acquire()
    assert clock.slept == []
    bucket.acquire()
    assert sum(clock.slept) == pytest.approx(0.5)


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0)


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempt: int) -> None:
    ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, base=0.5, cap=30.0) for _ in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)


def client_error(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "StartTranscriptionJob")


@pytest.mark.parametrize(
    ("exc", "retryable", "code"),
    [
        (client_error("ThrottlingException"), True, "ThrottlingException"),
        (client_error("LimitExceededException"), True, "LimitExceededException"),
        (client_error("InternalFailureException"), True, "InternalFailureException"),
        (client_error("BadRequestException"), False, "BadRequestException"),
        (client_error("ConflictException"), False, "ConflictException"),
        (EndpointConnectionError(endpoint_url="https://x"), True, "EndpointConnectionError"),
        (ParamValidationError(report="bad"), False, "ParamValidationError"),
    ],
)
def test_retry_classification(exc: Exception, retryable: bool, code: str) -> None:
    assert is_retryable(exc) is retryable  # type: ignore[arg-type]
    assert error_code(exc) == code  # type: ignore[arg-type]
    assert describe_error(exc).startswith(f"{code}: ")  # type: ignore[arg-type]


def test_client_config_uses_botocore_retries() -> None:
    config = transcribe_client_config()
    assert config.retries == {"mode": "standard", "max_attempts": 4}
    assert transcribe_client_config(max_attempts=7).retries["max_attempts"] == 7


def test_take_never_waits_and_refills_at_its_rate() -> None:
    """The twin's Transcribe throttles callers with the same bucket (burst = rate)."""
    now = [0.0]
    bucket = TokenBucket(2.0, burst=2.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] += 0.5
    assert [bucket.take(), bucket.take()] == [True, False]
