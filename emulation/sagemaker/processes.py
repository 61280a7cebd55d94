"""Starting hooks in their own sessions (in the start's machine when there is one), finding
everything they started, and ending all of it."""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from emulation.sagemaker.config import RUN_MARKER_ENV
from emulation.sagemaker.hooks import HookRunnerError
from emulation.sagemaker.machine import Machine, MachineError

if TYPE_CHECKING:
    from emulation.sagemaker.hooks import Hook

POLL_SECONDS = 0.05
# After SIGKILL the kernel needs a moment to tear processes down.
KILL_SETTLE_SECONDS = 2.0


@dataclass
class ProcessGroup:
    """What one start of an instance runs: its machine and hooks, and all they started.

    Each hook starts in a new session. A process belongs to the start if it runs in the start's
    machine (its mount namespace, whatever its user or session: `sudo -u ec2-user -i` keeps
    neither), in a hook's session, or carries RUN_MARKER_ENV=marker, which every process
    inherits unless its environment is reset.

    Those identities are reused by the kernel once freed: the lowest free namespace inode goes
    to the next namespace made anywhere on the host, and pids wrap at pid_max (a session's id
    is free once its leader is reaped and no member is left). So the group holds its namespace
    open and leaves its hooks unreaped (zombies) until it has ended, and once ended it
    neither finds nor signals anything: a second end(), at the twin's shutdown say, must not
    kill another instance's (or another twin's) machine that inherited a number.
    """

    marker: str
    machine: Machine | None = None
    sessions: list[int] = field(default_factory=list)
    launched: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    first: subprocess.Popen[str] | None = field(default=None, repr=False)
    namespace: str | None = None  # the machine's mount namespace, e.g. "mnt:[4026532177]"
    limit_seconds: float | None = None
    ended: bool = False
    _namespace_fd: int | None = field(default=None, repr=False)
    _ending: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def launch(self, hook: Hook) -> None:
        """Run the hook as AWS does: `/bin/bash -c <script file>` (so a shebang is honoured),
        from "/" in the start's machine (started by the first hook), else from the sandbox."""
        if self.ended:
            raise HookRunnerError(f"run {self.marker}: launch() after end()")
        if self.machine is not None and self.first is None:
            try:
                self.first = self.machine.start()
            except MachineError as error:
                raise HookRunnerError(str(error)) from error
            self._namespace_fd = os.open(f"/proc/{self.first.pid}/ns/mnt", os.O_RDONLY)
            self.namespace = os.readlink(f"/proc/self/fd/{self._namespace_fd}")
            self.sessions.append(self.first.pid)
        if self.machine is not None and self.first is not None:
            enter = self.machine.enter_command(self.first.pid)
            command = [*enter, "/bin/bash", "-c", shlex.quote(f"/tmp/{hook.script.name}")]
            cwd = Path("/")
        else:
            command, cwd = ["/bin/bash", "-c", shlex.quote(str(hook.script))], hook.cwd
        with hook.log.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=hook.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.launched.append(process)
        self.sessions.append(process.pid)
        self.limit_seconds = hook.limit_seconds

    def wait(self) -> int | None:
        """The last hook's exit status, or None once it runs past its limit (the host then
        ends it). The hook stays unreaped, so its pid (its session's id) is not reused."""
        if not self.launched:
            raise HookRunnerError(f"run {self.marker}: wait() before launch()")
        return exit_status(self.launched[-1].pid, self.limit_seconds)

    def alive(self) -> list[int]:
        """Pids of this group's live processes (zombies are dead: nobody may reap them here)."""
        if self.ended:
            return []
        needle = f"\0{RUN_MARKER_ENV}={self.marker}\0".encode()
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            state, session = _stat(entry.name)
            if state is None or state in "ZX":
                continue
            if (
                session in self.sessions
                or (self.namespace is not None and _namespace(entry.name) == self.namespace)
                or needle in b"\0" + _environ(entry.name)
            ):
                found.append(int(entry.name))
        return found

    def end(self, grace_seconds: float) -> None:
        """SIGTERM everything, SIGKILL what is left after the grace period, then reap (once:
        ending an ended group does nothing)."""
        with self._ending:  # the twin's shutdown may end a group a stop is ending
            if self.ended:
                return
            self._end(grace_seconds)
            self.ended = True

    def _end(self, grace_seconds: float) -> None:
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while self.alive() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        deadline = time.monotonic() + KILL_SETTLE_SECONDS
        while self.alive() and time.monotonic() < deadline:
            self._signal(signal.SIGKILL)
            time.sleep(POLL_SECONDS)
        for process in self.launched:
            process.wait()
        if self.first is not None:
            Machine.stop(self.first)
        if self._namespace_fd is not None:
            os.close(self._namespace_fd)

    def _signal(self, signum: int) -> None:
        for session in self.sessions:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(session, signum)
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def exit_status(pid: int, timeout: float | None) -> int | None:
    """A child's exit status as Popen gives it (-N for signal N), or None if it still runs
    after ``timeout``; it is left a zombie (WNOWAIT), for Popen.wait() to reap later."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if not ready:
            return None
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOWAIT)
    finally:
        os.close(pidfd)
    assert info is not None  # WNOHANG is not given: waitid returns once the child has exited
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _stat(pid: str) -> tuple[str | None, int | None]:
    """(state, session id) from /proc/<pid>/stat, or (None, None) once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[3])


def _namespace(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _environ(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""
