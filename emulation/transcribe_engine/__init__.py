"""Amazon Transcribe for the twin: moto's API with real offline speech engines behind it."""

from emulation.transcribe_engine.engines import engine_names, register_engine
from emulation.transcribe_engine.faults import Faults
from emulation.transcribe_engine.service import JobRecord, TranscribeConfig, TranscribeService

__all__ = [
    "Faults",
    "JobRecord",
    "TranscribeConfig",
    "TranscribeService",
    "engine_names",
    "register_engine",
]
