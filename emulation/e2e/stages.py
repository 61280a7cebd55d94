"""The chain's stages: each timed and reported as it starts and ends, and a polling helper."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from emulation.core.errors import EmulationError

T = TypeVar("T")


class E2EError(EmulationError):
    """A stage of the chain did not complete; the message says which and why."""


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    status: str = "pending"  # ok | failed | pending
    detail: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class StageLog:
    """Times each stage and reports progress through ``out`` (one line per event)."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.stages: list[Stage] = []
        self.out = out
        self.prefix = ""  # e.g. "run 2/3: " when one chain fires several runs

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        stage = Stage(self.prefix + name)
        name = stage.name
        self.stages.append(stage)
        self.out(f"[stage] {name} ...")
        started = time.monotonic()
        try:
            yield stage
        except Exception as exc:
            stage.status, stage.detail = "failed", str(exc)
            raise
        finally:
            stage.seconds = round(time.monotonic() - started, 3)
        stage.status = "ok"
        suffix = f": {stage.detail}" if stage.detail else ""
        self.out(f"[stage] {name} ok in {stage.seconds:.1f} s{suffix}")

    def stage_at(self, moment: datetime) -> str | None:
        """The stage that was running at ``moment`` (the last one started by then)."""
        running = [s.name for s in self.stages if s.started_at <= moment]
        return running[-1] if running else None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            s.name: {"seconds": s.seconds, "status": s.status, "detail": s.detail}
            for s in self.stages
        }


def wait_until(
    probe: Callable[[], T | None],
    *,
    deadline: float,
    what: str,
    fail: Callable[[], str | None] = lambda: None,
    interval: float = 0.25,
) -> T:
    """Poll ``probe`` until it returns something; ``fail`` returns a reason to stop early."""
    while True:
        result = probe()
        if result is not None:
            return result
        reason = fail()
        if reason:
            raise E2EError(f"{what}: {reason}")
        if time.monotonic() > deadline:
            raise E2EError(f"{what}: timed out")
        time.sleep(interval)
