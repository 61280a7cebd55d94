"""The twin's notebook-instance host: SageMaker notebook instances; hooks run here or in Docker."""

from emulation.notebook_host.config import NotebookHostConfig, Sandbox
from emulation.notebook_host.host import (
    NotebookHost,
    NotebookHostError,
    NotebookHostTimeout,
    Transition,
)

__all__ = [
    "NotebookHost",
    "NotebookHostConfig",
    "NotebookHostError",
    "NotebookHostTimeout",
    "Sandbox",
    "Transition",
]
