"""A lifecycle hook to run, and what a runner must offer for one start of an instance.

Both runners give the host the same small interface: launch a hook, wait for it within AWS's
limit, list what still runs, end all of it. One start launches up to two hooks into the same
group, one after the other (at creation OnCreate, then OnStart), as both run on one machine.
The host's state machine (Pending -> InService | Failed, Stopping -> Stopped) is therefore the
same for both:

    process    local processes: in the start's machine, a mount namespace with AWS's paths
               (machine.py), or in the instance's sandbox folder (processes.py)
    container  the notebook-instance container, through `docker exec` (container.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from emulation.core.errors import EmulationError


class HookRunnerError(EmulationError):
    """A runner could not run or end a hook (named, with why)."""


ON_CREATE, ON_START = "OnCreate", "OnStart"


@dataclass(frozen=True)
class Hook:
    """One lifecycle hook to run, with everything either runner needs."""

    event: str  # ON_CREATE or ON_START
    script: Path  # the script file in the start's /tmp (AWS: /tmp/OnStart_<...>, executed)
    instance_name: str
    instance_arn: str
    cwd: Path  # the hook's working directory without a namespace (process runner)
    env: dict[str, str]  # the whole environment of a local hook (process runner)
    log: Path  # the file behind the LifecycleConfig<event> log stream
    limit_seconds: float  # AWS fails a hook that runs longer


class HookGroup(Protocol):
    """What one start of an instance runs: the hook and everything it starts."""

    marker: str

    def launch(self, hook: Hook) -> None: ...

    def wait(self) -> int | None:
        """The hook's exit status; None when it ran past its limit (it is stopped then)."""
        ...

    def alive(self) -> list[int]: ...

    def end(self, grace_seconds: float) -> None:
        """End everything the start ran: SIGTERM, then SIGKILL after ``grace_seconds``."""
        ...
