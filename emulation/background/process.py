"""A twin that stays up in the background, with the stack deployed: ``asr-monitor twin start``.

``start_twin`` runs ``python -m emulation serve`` as a process of its own (its own session, so
it outlives the shell that started it) on a fixed port (4599 unless told otherwise: LocalStack
keeps 4566 and the docker-compose twin 5000), waits until it answers, and deploys the stack
into it exactly as ``make e2e`` does (``deploy_to_twin``: the e2e chain's deploy stage, so the
twin's repairs, settings and notification queue are the same). It records itself in
``.twin/state.json`` (``background.state``); a stale state is reported and removed.

``stop_twin`` sends SIGTERM: the twin stops its parts (each notebook instance's processes end),
prints its counts to its log and exits; after ``STOP_TIMEOUT_SECONDS`` its process group is
killed. The log file stays; the instances' disk (``.twin/sandbox``) goes with the twin.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from deploy.package import PROJECT_ROOT
from deploy.template import TEMPLATE_PATH
from emulation.background.state import (
    DEFAULT_STACK,
    LOG_FILE,
    PORT_ENV,
    SANDBOX,
    STATE_FILE,
    TwinState,
    alive,
    default_port,
    running_twin,
    stale_state,
    state_dir,
)
from emulation.core.control_client import twin_health
from emulation.core.errors import EmulationError
from emulation.core.twin import DEFAULT_REGION
from emulation.e2e.chain import ChainRun, E2EOptions
from emulation.e2e.sites import BackgroundTwinSite
from emulation.e2e.stages import StageLog

START_TIMEOUT_SECONDS = 60.0
# The twin gives each instance's processes 5 s after SIGTERM (NotebookHostConfig).
STOP_TIMEOUT_SECONDS = 30.0

Out = Callable[[str], None]


class TwinStartError(EmulationError):
    """The background twin did not come up; the message says why (and the log's end)."""


def remove_stale(folder: Path, out: Out) -> None:
    reason = stale_state(folder)
    if reason:
        (folder / STATE_FILE).unlink(missing_ok=True)
        out(f"removed the stale twin state in {folder}: {reason}")


def start_twin(
    *,
    folder: Path | None = None,
    port: int | None = None,
    stack: str = DEFAULT_STACK,
    parameters: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    out: Out = print,
    timeout: float = START_TIMEOUT_SECONDS,
) -> TwinState:
    """Start the background twin and deploy ``stack`` into it; return its state.

    A twin already running for this checkout is kept (its stack is deployed again, which
    changes nothing when nothing changed)."""
    folder = folder or state_dir()
    remove_stale(folder, out)
    state = running_twin(folder)
    if state is not None:
        out(f"twin already running at {state.endpoint} (pid {state.pid})")
    else:
        state = _spawn(folder, port or default_port(), stack, host, timeout, out)
    deploy_to_twin(state.endpoint, state.region, stack, parameters or {}, out)
    if stack != state.stack:
        state = TwinState(**{**asdict(state), "stack": stack})
        state.write(folder)
    return state


def deploy_to_twin(
    endpoint: str,
    region: str,
    stack: str,
    parameters: Mapping[str, str],
    out: Out = print,
    template: Path = TEMPLATE_PATH,
) -> dict[str, str]:
    """Deploy ``stack`` into a running twin as ``make e2e`` does; return its outputs.

    The chain's deploy stage: the change-set deploy, the repairs of what moto's CloudFormation
    skips, and the queue that reads the notifications back; then, as ``make e2e``, the run the
    new instance's OnStart starts at creation is followed to its end, so the next run finds
    the instance Stopped. The instance's settings (the Python it runs, the speech engine) are
    the twin's own (``serve``: the e2e settings)."""
    options = E2EOptions(stack=stack, parameters=dict(parameters), template_path=template)
    chain = ChainRun(BackgroundTwinSite(endpoint, region), options, StageLog(out))
    chain.deploy()
    chain.creation_run()
    return chain.outputs


def stop_twin(folder: Path | None = None, out: Out = print) -> bool:
    """Stop the background twin; False when none was running (a stale state is removed)."""
    folder = folder or state_dir()
    state = TwinState.read(folder)
    if state is None:
        out(f"no twin running (no state in {folder})")
        return False
    reason = stale_state(folder)
    if reason:
        (folder / STATE_FILE).unlink(missing_ok=True)
        out(f"no twin running: removed the stale state ({reason})")
        return False
    os.kill(state.pid, signal.SIGTERM)
    if not _wait_gone(state.pid, STOP_TIMEOUT_SECONDS):
        out(
            f"twin (pid {state.pid}) still running {STOP_TIMEOUT_SECONDS:g} s after SIGTERM: killed"
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state.pid, signal.SIGKILL)  # its own session: the group is the twin's
        _wait_gone(state.pid, 5.0)
    (folder / STATE_FILE).unlink(missing_ok=True)
    last = _log_tail(Path(state.log), 1)
    out(f"twin (pid {state.pid}) stopped" + (f"; {last.strip()}" if last.strip() else ""))
    out(f"its log: {state.log}")
    return True


# --------------------------------------------------------------------------- internals
def _spawn(folder: Path, port: int, stack: str, host: str, timeout: float, out: Out) -> TwinState:
    _refuse_busy_port(host, port)
    folder.mkdir(parents=True, exist_ok=True)
    sandbox = folder / SANDBOX
    shutil.rmtree(sandbox, ignore_errors=True)  # a killed twin's instances' disk
    log = folder / LOG_FILE
    command = [
        sys.executable, "-m", "emulation", "serve", "--backend", "embedded",
        "--host", host, "--port", str(port), "--sandbox", str(sandbox),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    with log.open("ab") as sink:
        sink.write(f"\n== {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {' '.join(command)}\n".encode())
        sink.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,  # outlives this shell; its group is its own
        )
    state = TwinState(
        pid=process.pid,
        endpoint=f"http://127.0.0.1:{port}",
        port=port,
        region=DEFAULT_REGION,
        stack=stack,
        log=str(log),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    state.write(folder)
    out(f"twin starting at {state.endpoint} (pid {process.pid}, log {log})")
    deadline = time.monotonic() + timeout
    while True:
        health = twin_health(state.endpoint, timeout=1.0)
        if health is not None and health.get("pid") == process.pid:
            return state
        if process.poll() is not None:
            (folder / STATE_FILE).unlink(missing_ok=True)
            raise TwinStartError(
                f"the twin exited with status {process.returncode} before it answered; "
                f"the end of {log}:\n{_log_tail(log, 15)}"
            )
        if time.monotonic() > deadline:
            process.terminate()
            (folder / STATE_FILE).unlink(missing_ok=True)
            raise TwinStartError(
                f"the twin did not answer at {state.endpoint} within {timeout:g} s; "
                f"the end of {log}:\n{_log_tail(log, 15)}"
            )
        time.sleep(0.2)


def _refuse_busy_port(host: str, port: int) -> None:
    """A clear error when something already listens on the port (another twin, say which)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
            return
        except OSError:
            pass
    health = twin_health(f"http://127.0.0.1:{port}")
    who = (
        f"another twin (pid {health.get('pid')}, started in {health.get('cwd')})"
        if health
        else "another program"
    )
    raise TwinStartError(
        f"port {port} is in use by {who}; stop it, or choose another port (--port, or {PORT_ENV})"
    )


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _log_tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
