"""Lifecycle hooks in the notebook-instance container (runner "container", TWIN=localstack).

The hook goes to the container with one command (docker/notebook-instance/notebook-instance.sh):

    docker exec -i -e LIFECYCLE_HOOK_TIMEOUT=<limit> [-e KEY=VALUE ...] <container> \\
        notebook-instance run-hook on-start|on-create <name> <arn> < <script>

There, run-hook does what SageMaker does around a lifecycle script: writes the metadata file,
runs the script as root from "/", streams its output back (here: into the LifecycleConfig<hook>
file), stops it past the limit and exits 124. What the hook backgrounds keeps running in the
container. Ending a start restarts the container (`docker restart -t <grace>`), which ends all
of it, as a stopped instance loses its processes; the home volume stays, like the ML volume.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulation.sagemaker.hooks import ON_CREATE, HookRunnerError

if TYPE_CHECKING:
    from emulation.sagemaker.hooks import Hook

TIMED_OUT = 124  # run-hook's exit status for a hook that ran past its limit
KILL_AFTER_SECONDS = 10.0  # run-hook's `timeout --kill-after`
# How long past the limit the twin waits for `docker exec` before it gives up on it: the
# container may be gone or hung, and the instance must still fail in bounded time.
EXEC_MARGIN_SECONDS = 20.0
# `docker restart -t N` takes up to N seconds to stop, then starts the container again.
RESTART_MARGIN_SECONDS = 60.0
DETACH_GRACE_SECONDS = 5.0


class ContainerHookError(HookRunnerError):
    """The notebook-instance container could not be reached or restarted (named, with why)."""


@dataclass
class ContainerGroup:
    """One start of an instance whose hooks run in ``container`` (see the module docstring).

    ``alive()`` sees only the local `docker exec` client: processes inside the container are
    not visible from here, and a stop ends them all by restarting the container.
    """

    marker: str
    container: str
    docker: str = "docker"
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    limit_seconds: float | None = None
    ended: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def launch(self, hook: Hook) -> None:
        env = {**self.extra_env, "LIFECYCLE_HOOK_TIMEOUT": f"{hook.limit_seconds:g}"}
        command = [self._cli(), "exec", "-i"]
        for key, value in env.items():
            command += ["-e", f"{key}={value}"]
        event = "on-create" if hook.event == ON_CREATE else "on-start"
        command += [self.container, "notebook-instance", "run-hook", event]
        command += [hook.instance_name, hook.instance_arn]
        with hook.script.open("rb") as script, hook.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=script,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.limit_seconds = hook.limit_seconds

    def wait(self) -> int | None:
        """run-hook's exit status; None when the hook ran past its limit (status 124), or when
        `docker exec` did not return well after it (the client is then detached)."""
        if self.process is None or self.limit_seconds is None:
            raise ContainerHookError(f"run {self.marker}: wait() before launch()")
        patience = self.limit_seconds + KILL_AFTER_SECONDS + EXEC_MARGIN_SECONDS
        try:
            status = self.process.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            self._detach()
            return None
        return None if status == TIMED_OUT else status

    def alive(self) -> list[int]:
        if self.process is not None and self.process.poll() is None:
            return [self.process.pid]
        return []

    def end(self, grace_seconds: float) -> None:
        """Restart the container once, if this start ran anything in it; later calls do nothing."""
        with self._lock:
            if self.process is None or self.ended:
                return
            self.ended = True
        self._detach()
        grace = max(0, math.ceil(grace_seconds))
        command = [self._cli(), "restart", "-t", str(grace), self.container]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=grace + RESTART_MARGIN_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise ContainerHookError(
                f"docker restart {self.container}: no answer in {error.timeout:g} s"
            ) from error
        if result.returncode != 0:
            said = next((ln for ln in (result.stderr + result.stdout).splitlines() if ln), "")
            raise ContainerHookError(
                f"docker restart {self.container} failed (exit status {result.returncode}): "
                f"{said or 'no output'}"
            )

    def _cli(self) -> str:
        found = shutil.which(self.docker)
        if found is None:
            raise ContainerHookError(
                f"Docker CLI {self.docker!r} not found on PATH: the notebook host needs it to "
                f"run hooks in container {self.container}"
            )
        return found

    def _detach(self) -> None:
        """End the local `docker exec` client (what it started in the container keeps going)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=DETACH_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
