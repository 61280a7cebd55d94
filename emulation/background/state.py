"""Where a background twin is recorded, and whether it still runs (``.twin/state.json``).

A background twin (``emulation.background.process``) keeps its pid, endpoint, stack and log
file in ``.twin/state.json`` under the checkout (ASR_TWIN_DIR elsewhere), where ``make e2e``
and the command line find it (``running_twin``). A state whose process is gone, or whose port
answers for another process, is stale (``stale_state``). Standard library only (plus the
control API's client), so the command line can ask without loading the twin.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy.package import PROJECT_ROOT
from emulation.core.control_client import client_env, twin_health
from emulation.core.errors import EmulationError

DEFAULT_PORT = 4599
PORT_ENV = "ASR_TWIN_PORT"
DIR_ENV = "ASR_TWIN_DIR"
DEFAULT_STACK = "asr-monitor"
STATE_FILE = "state.json"
LOG_FILE = "twin.log"
SANDBOX = "sandbox"


@dataclass(frozen=True)
class TwinState:
    """What ``.twin/state.json`` holds of a background twin."""

    pid: int
    endpoint: str
    port: int
    region: str
    stack: str
    log: str
    started_at: str

    @classmethod
    def read(cls, folder: Path) -> TwinState | None:
        path = folder / STATE_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise EmulationError(f"{path}: not a twin state ({exc}); delete it") from exc

    def env(self) -> dict[str, str]:
        """The environment boto3 and the aws CLI need to use this twin."""
        return client_env(self.endpoint, self.region)

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``.twin/`` under the checkout, or ASR_TWIN_DIR."""
    env = os.environ if environ is None else environ
    return Path(env.get(DIR_ENV) or PROJECT_ROOT / ".twin")


def default_port(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    value = env.get(PORT_ENV) or str(DEFAULT_PORT)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise EmulationError(f"{PORT_ENV}={value!r}: not a TCP port")
    return int(value)


def running_twin(folder: Path | None = None) -> TwinState | None:
    """The background twin of this checkout, if it runs and answers as itself."""
    state = TwinState.read(folder or state_dir())
    if state is None or not alive(state.pid):
        return None
    health = twin_health(state.endpoint)
    return state if health is not None and health.get("pid") == state.pid else None


def stale_state(folder: Path) -> str | None:
    """Why the state file no longer describes a running twin (None: it does, or there is
    none). A twin still starting (alive, not answering yet) is not stale."""
    state = TwinState.read(folder)
    if state is None:
        return None
    if not alive(state.pid):
        return f"pid {state.pid} is not running"
    health = twin_health(state.endpoint)
    if health is not None and health.get("pid") != state.pid:
        return f"{state.endpoint} answers for pid {health.get('pid')}, not {state.pid}"
    if health is None and not _is_twin_process(state.pid):
        return f"pid {state.pid} is not a twin"
    return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a child of ours that exited, unreaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our child, reaped now
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _is_twin_process(pid: int) -> bool:
    """Is ``pid`` running ``emulation serve`` (where /proc tells; elsewhere assume so)?"""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self").exists()
    return b"emulation" in args and b"serve" in args
