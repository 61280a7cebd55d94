"""The twin's own error root: everything the emulator raises on purpose is an ``EmulationError``.

Kept apart from ``pipeline.errors``: the pipeline runs in AWS, where no twin exists, and a
handler catching ``PipelineError`` must never catch a failure of the emulator around it.
"""

from __future__ import annotations


class EmulationError(Exception):
    """Base class for every error the twin raises on purpose."""


class TwinConfigError(EmulationError):
    """A setting of the twin (a part's config, a backend name, a schedule) is unusable."""
