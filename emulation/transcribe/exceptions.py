"""Transcribe's API errors with AWS's codes and messages (quotas, throttling, bad requests).

The exceptions subclass moto's JsonRESTError, so moto's own response layer serialises them as
`{"__type": ..., "message": ...}` and boto3 raises ClientError with the real error code.
"""

from __future__ import annotations

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
