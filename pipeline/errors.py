"""The project's own error types, raised with the file, line, key or job that caused them."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class for every error this project raises on purpose."""


class ConfigurationError(PipelineError):
    """A required setting (usually an environment variable) is missing or invalid."""


class ScoringError(PipelineError):
    """A transcript could not be scored (for example an empty reference)."""


class CorpusError(PipelineError):
    """The corpus is unusable as a whole (for example: nothing under the prefix)."""
