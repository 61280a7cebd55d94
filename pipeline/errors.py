"""The project's own error types, raised with the file, line, key or job that caused them."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError


class PipelineError(Exception):
    """Base class for every error this project raises on purpose."""


class ConfigurationError(PipelineError):
    """A required setting (usually an environment variable) is missing or invalid."""


class ScoringError(PipelineError):
    """A transcript could not be scored (for example an empty reference)."""


class CorpusError(PipelineError):
    """The corpus is unusable as a whole (for example: nothing under the prefix)."""


class EmptyCorpusError(CorpusError):
    """No audio under the corpus prefix: on a new stack, nothing was uploaded yet."""

    def __init__(self, message: str, *, bucket: str, prefix: str) -> None:
        super().__init__(message)
        self.bucket, self.prefix = bucket, prefix


def error_code(exc: ClientError | BotoCoreError) -> str:
    """AWS's error code, or the botocore exception's class name for transport failures."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__
