"""Starting a hook in its own session, finding everything it started, and ending all of it."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from emulation.sagemaker.config import RUN_MARKER_ENV
from emulation.sagemaker.hooks import HookRunnerError

if TYPE_CHECKING:
    from emulation.sagemaker.hooks import Hook

POLL_SECONDS = 0.05
# After SIGKILL the kernel needs a moment to tear processes down.
KILL_SETTLE_SECONDS = 2.0


@dataclass
class ProcessGroup:
    """What one start of an instance runs: the hook's session plus anything carrying the marker.

    The hook is started in a new session (so its process group id is its pid), and every
    process inherits RUN_MARKER_ENV=marker, which finds processes that left the session.
    """

    marker: str
    session_id: int | None = None
    hook: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    limit_seconds: float | None = None

    def launch(self, hook: Hook) -> None:
        """Run the hook as AWS does (`/bin/bash -c <script file>`, so a shebang is honoured)."""
        with hook.log.open("ab") as log_file:
            self.hook = subprocess.Popen(
                ["/bin/bash", "-c", shlex.quote(str(hook.script))],
                cwd=hook.cwd,
                env=hook.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.session_id = self.hook.pid
        self.limit_seconds = hook.limit_seconds

    def wait(self) -> int | None:
        """The hook's exit status, or None once it runs past its limit (the host then ends it)."""
        if self.hook is None:
            raise HookRunnerError(f"run {self.marker}: wait() before launch()")
        try:
            return self.hook.wait(timeout=self.limit_seconds)
        except subprocess.TimeoutExpired:
            return None

    def alive(self) -> list[int]:
        """Pids of this group's live processes (zombies are dead: nobody may reap them here)."""
        needle = f"\0{RUN_MARKER_ENV}={self.marker}\0".encode()
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            state, session = _stat(entry.name)
            if state is None or state in "ZX":
                continue
            in_session = self.session_id is not None and session == self.session_id
            if in_session or needle in b"\0" + _environ(entry.name):
                found.append(int(entry.name))
        return found

    def end(self, grace_seconds: float) -> None:
        """SIGTERM everything, SIGKILL what is left after the grace period, then reap the hook."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while self.alive() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        deadline = time.monotonic() + KILL_SETTLE_SECONDS
        while self.alive() and time.monotonic() < deadline:
            self._signal(signal.SIGKILL)
            time.sleep(POLL_SECONDS)
        if self.hook is not None:
            self.hook.wait()

    def _signal(self, signum: int) -> None:
        if self.session_id is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.session_id, signum)
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def _stat(pid: str) -> tuple[str | None, int | None]:
    """(state, session id) from /proc/<pid>/stat, or (None, None) once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[3])


def _environ(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""
