"""Faults the twin can inject into Transcribe, so the pipeline's error paths can be exercised.

Decisions come from one seeded random generator: a given seed and call order gives the same
failures on every run, which keeps tests that use fractions between 0 and 1 reproducible.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, replace

from emulation.transcribe.errors import EngineError

INJECTED_FAILURE = "Internal failure (injected by the twin's fault settings)."


@dataclass(frozen=True)
class Faults:
    fail_fraction: float = 0.0  # share of jobs that end FAILED with INJECTED_FAILURE
    extra_latency_seconds: float = 0.0  # added to every job while it is IN_PROGRESS
    throttle_fraction: float = 0.0  # share of StartTranscriptionJob calls refused as throttled
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("fail_fraction", "throttle_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EngineError(f"fault {name} must be within [0, 1], got {value}")
        if self.extra_latency_seconds < 0:
            raise EngineError(
                f"fault extra_latency_seconds must be >= 0, got {self.extra_latency_seconds}"
            )


class FaultInjector:
    """Holds the current faults; replaceable at runtime (the random stream restarts at `seed`)."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.set(faults)

    @property
    def faults(self) -> Faults:
        return self._faults

    def set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed)

    def update(self, **changes: float) -> Faults:
        self.set(replace(self._faults, **changes))
        return self._faults

    def should_fail(self) -> bool:
        return self._draw(self._faults.fail_fraction)

    def should_throttle(self) -> bool:
        return self._draw(self._faults.throttle_fraction)

    def _draw(self, fraction: float) -> bool:
        if fraction <= 0.0:
            return False
        with self._lock:
            return self._random.random() < fraction
