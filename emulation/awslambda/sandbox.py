"""Runs one Lambda handler from the function's own zip in a sandboxed subprocess.

AWS gives a Python handler: the standard library, boto3 and its dependencies, and the zip on
``sys.path``; the function's environment variables; a hard timeout; a memory size. This module
reproduces that without Docker: ``python -I -S`` plus ``bootstrap.py``, a directory of
symlinks to exactly the packages the Lambda runtime ships, and a kill when the timeout passes.
A handler that imports anything else (jiwer, requests...) fails here as it would in AWS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulation.core.errors import EmulationError

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction

# What AWS's Python runtime has besides the standard library (it ships boto3 and its deps).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
# The credentials a handler gets when the twin enforces no IAM (the twin's default keys).
DUMMY_SESSION = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class LambdaRuntimeError(EmulationError):
    """The twin cannot run this function at all (not a zip, not Python, a broken archive)."""


@dataclass(frozen=True)
class HandlerRun:
    """The outcome of one execution of a handler."""

    request_id: str
    payload: str  # JSON text the caller receives: the result, or AWS's error object
    error_type: str | None
    error_message: str | None
    traceback: str | None
    logs: str
    started_at: datetime
    duration: float
    max_memory_mb: int
    log_stream: str

    @property
    def ok(self) -> bool:
        return self.error_type is None


class Sandbox:
    """Extracts function code (cached per code hash) and runs handlers in subprocesses."""

    def __init__(self, workdir: Path, endpoint_url: str) -> None:
        self.workdir = workdir
        self.endpoint_url = endpoint_url
        self._code_lock = threading.Lock()
        self._procs_lock = threading.Lock()
        self._procs: dict[int, str | None] = {}  # pid -> why it was killed (None: running)
        for sub in ("code", "tmp", "invocations"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        self.runtime_dir = self._link_runtime_packages(workdir / "runtime")

    @staticmethod
    def _link_runtime_packages(target: Path) -> Path:
        """A directory of symlinks to exactly RUNTIME_PACKAGES, wherever they are installed."""
        target.mkdir(parents=True, exist_ok=True)
        for name in RUNTIME_PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise LambdaRuntimeError(f"runtime package {name!r} is not installed in this venv")
            source = Path(spec.origin)
            if spec.submodule_search_locations:  # a package: link its directory
                source = source.parent
            link = target / source.name
            if not link.exists():
                link.symlink_to(source)
        return target

    def code_dir(self, fn: LambdaFunction) -> Path:
        """The function's zip, extracted once per distinct code hash."""
        if fn.package_type != "Zip" or not getattr(fn, "code_bytes", b""):
            raise LambdaRuntimeError(
                f"function {fn.function_name}: the twin runs zip packages only "
                f"(PackageType {fn.package_type}, {len(getattr(fn, 'code_bytes', b''))} code bytes)"
            )
        if fn.run_time and not str(fn.run_time).startswith("python"):
            raise LambdaRuntimeError(
                f"function {fn.function_name}: the twin runs Python only, not {fn.run_time}"
            )
        digest = hashlib.sha256(fn.code_bytes).hexdigest()
        target = self.workdir / "code" / digest
        with self._code_lock:
            if not target.is_dir():
                staging = Path(tempfile.mkdtemp(dir=self.workdir / "code"))
                try:
                    with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
                        archive.extractall(staging)
                except zipfile.BadZipFile as exc:
                    shutil.rmtree(staging)
                    raise LambdaRuntimeError(
                        f"function {fn.function_name}: code is not a valid zip: {exc}"
                    ) from exc
                staging.rename(target)
        return target

    def environment(
        self,
        fn: LambdaFunction,
        code_dir: Path,
        log_stream: str,
        credentials: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """A clean environment like Lambda's: nothing inherited from the twin's own process.

        ``credentials``: the execution role's session (AWS_ACCESS_KEY_ID...), as Lambda sets
        them; None gives the twin's default keys (when IAM is not enforced).
        """
        tmp = self.workdir / "tmp" / fn.function_name
        tmp.mkdir(parents=True, exist_ok=True)
        nowhere = str(self.workdir / "no-such-aws-config")
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "TMPDIR": str(tmp),
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(self.runtime_dir),
        }
        env.update({key: str(value) for key, value in (fn.environment_vars or {}).items()})
        env.update(  # reserved: a function's own variables cannot override these in AWS
            {
                "_HANDLER": str(fn.handler),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time or 'python3.11'}",
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_REGION": fn.region,
                "AWS_DEFAULT_REGION": fn.region,
                **(credentials or DUMMY_SESSION),
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_CONFIG_FILE": nowhere,
                "AWS_SHARED_CREDENTIALS_FILE": nowhere,
            }
        )
        return env

    def run(
        self,
        fn: LambdaFunction,
        event: Any,
        request_id: str,
        credentials: dict[str, str] | None = None,
    ) -> HandlerRun:
        code_dir = self.code_dir(fn)
        started_at = datetime.now(UTC)
        log_stream = f"{started_at:%Y/%m/%d}/[{fn.version}]{uuid.uuid4().hex}"
        timeout = float(fn.timeout)
        with tempfile.TemporaryDirectory(dir=self.workdir / "invocations") as scratch:
            event_file = Path(scratch, "event.json")
            event_file.write_text(json.dumps(event), encoding="utf-8")
            result_file = Path(scratch, "result.json")
            started = time.monotonic()
            deadline_ms = int((time.time() + timeout) * 1000)
            with open(Path(scratch, "output.log"), "w+b") as output:
                argv = [
                    sys.executable, "-I", "-S", str(BOOTSTRAP), str(code_dir),
                    str(self.runtime_dir), str(event_file), str(result_file), request_id,
                    str(deadline_ms), fn.function_arn,
                ]  # fmt: skip
                proc = subprocess.Popen(
                    argv,
                    cwd=code_dir,
                    env=self.environment(fn, code_dir, log_stream, credentials),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                killed = self._wait(proc, timeout)
                duration = time.monotonic() - started
                output.seek(0)
                printed = output.read().decode("utf-8", errors="replace")
            outcome = (
                json.loads(result_file.read_text(encoding="utf-8"))
                if result_file.exists() and killed is None
                else None
            )
        max_memory_mb = math.ceil((outcome or {}).get("maxMemoryKB", 0) / 1024)
        failure = self._runtime_failure(fn, request_id, killed, max_memory_mb)
        if failure is None and outcome is None:
            exit_status = f"exit status {proc.returncode}"
            failure = ("Runtime.ExitError", f"RequestId: {request_id} Error: {exit_status}")
        if failure is not None:
            error_type, error_message = failure
            payload = json.dumps({"errorType": error_type, "errorMessage": error_message})
            traceback = None
        else:
            payload, traceback = outcome["payload"], outcome.get("traceback")
            error_type, error_message = outcome.get("errorType"), outcome.get("errorMessage")
        return HandlerRun(
            request_id=request_id,
            payload=payload,
            error_type=error_type,
            error_message=error_message,
            traceback=traceback,
            logs=self._aws_log(fn, request_id, printed, killed, timeout, duration, max_memory_mb),
            started_at=started_at,
            duration=duration,
            max_memory_mb=max_memory_mb,
            log_stream=log_stream,
        )

    @staticmethod
    def _runtime_failure(
        fn: LambdaFunction, request_id: str, killed: str | None, max_memory_mb: int
    ) -> tuple[str, str] | None:
        """AWS's (errorType, errorMessage) when the sandbox, not the handler, ended the run."""
        prefix = f"RequestId: {request_id} Error:"
        if killed == "timeout":
            return "Sandbox.Timedout", f"{prefix} Task timed out after {fn.timeout:.2f} seconds"
        if killed is not None:
            return "Runtime.ExitError", f"{prefix} the twin stopped the handler ({killed})"
        if max_memory_mb > int(fn.memory_size):
            # AWS kills the process at the limit; the twin measures after the run and fails it.
            return "Runtime.OutOfMemory", (
                f"{prefix} Runtime exited with error: max memory used {max_memory_mb} MB "
                f"exceeds the function's MemorySize {fn.memory_size} MB"
            )
        return None

    def _wait(self, proc: subprocess.Popen[bytes], timeout: float) -> str | None:
        """Wait, killing the process group at the timeout; return why it was killed, if it was."""
        with self._procs_lock:
            self._procs[proc.pid] = None
        timer = threading.Timer(timeout, self.kill, (proc.pid, "timeout"))
        timer.daemon = True
        timer.start()
        try:
            # Wait without reaping, so a late kill can never hit a recycled pid...
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            with self._procs_lock:
                killed = self._procs.pop(proc.pid)
        finally:
            timer.cancel()
        proc.wait()  # ...then reap.
        return killed

    def kill(self, pid: int, reason: str) -> None:
        """Kill a running handler's process group (timeout, or the twin being reset)."""
        with self._procs_lock:
            if pid not in self._procs or self._procs[pid] is not None:
                return
            self._procs[pid] = reason
            os.killpg(pid, signal.SIGKILL)

    def kill_all(self, reason: str) -> None:
        with self._procs_lock:
            running = [pid for pid, why in self._procs.items() if why is None]
        for pid in running:
            self.kill(pid, reason)

    @staticmethod
    def _aws_log(
        fn: LambdaFunction,
        request_id: str,
        printed: str,
        killed: str | None,
        timeout: float,
        duration: float,
        max_memory_mb: int,
    ) -> str:
        """The function's output framed by AWS's START / END / REPORT lines."""
        lines = [f"START RequestId: {request_id} Version: {fn.version}", printed.rstrip("\n")]
        if killed == "timeout":
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            lines.append(f"{now} {request_id} Task timed out after {timeout:.2f} seconds")
        millis = duration * 1000
        lines += [
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {millis:.2f} ms\t"
            f"Billed Duration: {math.ceil(millis)} ms\tMemory Size: {fn.memory_size} MB\t"
            f"Max Memory Used: {max_memory_mb} MB",
        ]
        return "\n".join(line for line in lines if line) + "\n"
