"""The notebook-instance host: SageMaker's instance state machine, run on moto's own models.

moto makes an instance InService at once and runs nothing. With the host installed:

    StartNotebookInstance   Stopped|Failed -> Pending -> (OnStart hook exits 0) -> InService
                            hook exits non-zero, or runs past the limit     -> Failed (+ reason)
    StopNotebookInstance    InService -> Stopping -> (processes ended)      -> Stopped
    UpdateNotebookInstance  Stopped|Failed -> Updating                      -> Stopped
    watchdog                Pending|InService past max_run_seconds -> Stopping -> Stopped

Any other transition is refused with AWS's ValidationException. The hook runs as in AWS: in
Pending, as a separate process; what it backgrounds keeps running while the instance is
InService, and ends when the instance stops or fails. Where it runs is the config's runner
(hooks.py): a local process group in a sandbox, or the notebook-instance container.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import secrets
import shutil
import string
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from moto.core.utils import utcnow
from moto.logs.exceptions import ResourceAlreadyExistsException
from moto.logs.models import logs_backends
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import (
    FakeSagemakerNotebookInstance,
    SageMakerModelBackend,
    sagemaker_backends,
)
from moto.sagemaker.responses import SageMakerResponse

from emulation.core.backends import EnvClients
from emulation.core.errors import EmulationError
from emulation.core.patching import Patches
from emulation.iam.authorizer import IamEnforcement, session_for
from emulation.iam.credentials import (
    SAGEMAKER_PRINCIPAL,
    SAGEMAKER_SESSION_NAME,
    Caller,
    RoleNotAssumable,
)
from emulation.sagemaker import messages
from emulation.sagemaker.config import NotebookHostConfig, Sandbox
from emulation.sagemaker.container import ContainerGroup
from emulation.sagemaker.hooks import Hook, HookGroup
from emulation.sagemaker.moto_additions import (
    apply_update,
    lifecycle_config_arn,
    list_notebook_instance_lifecycle_configs,
    list_notebook_instance_lifecycle_configs_handler,
    update_notebook_instance_handler,
    with_failure_reason,
    with_hook_length_check,
    with_platform_settings,
)
from emulation.sagemaker.processes import POLL_SECONDS, ProcessGroup

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.client import BaseClient

    from emulation.core.twin import Twin

LOG_GROUP = "/aws/sagemaker/NotebookInstances"
ON_START_STREAM = "LifecycleConfigOnStart"
LOG_EVENTS_PER_CALL = 1000  # well inside PutLogEvents' 10,000 events and 1 MB


class NotebookHostError(EmulationError):
    """The notebook-instance host could not do what was asked (named instance, hook, status)."""


class NotebookHostTimeout(NotebookHostError):
    """An instance did not reach the awaited status in time."""


class Transition(NamedTuple):
    at: datetime
    instance: str
    from_status: str
    to_status: str
    reason: str


@dataclass
class _Run:
    """One start (or stop, or update) of an instance: its processes and its cancellation."""

    instance_name: str
    group: HookGroup
    ended: threading.Event = field(default_factory=threading.Event)
    watchdog: threading.Timer | None = None


class NotebookHost:
    """A TwinPart: hosts SageMaker notebook instances, their hooks run by the config's runner."""

    def __init__(self, twin: Twin, config: NotebookHostConfig) -> None:
        self.twin = twin
        self.config = config
        self.transitions: list[Transition] = []
        self._lock = threading.RLock()
        self._runs: dict[str, _Run] = {}
        self._sandboxes: set[Path] = set()
        self._patches = Patches()

    # -- TwinPart ---------------------------------------------------------------------------

    def install(self) -> None:
        host = self
        backend_cls = SageMakerModelBackend
        moto_delete = backend_cls.delete_notebook_instance

        def start_notebook_instance(
            backend: SageMakerModelBackend, notebook_instance_name: str
        ) -> None:
            host._start(backend, notebook_instance_name)

        def stop_notebook_instance(
            backend: SageMakerModelBackend, notebook_instance_name: str
        ) -> None:
            host._stop(backend, notebook_instance_name)

        def update_notebook_instance(
            backend: SageMakerModelBackend, notebook_instance_name: str, **changes: Any
        ) -> None:
            host._update(backend, notebook_instance_name, changes)

        def delete_notebook_instance(
            backend: SageMakerModelBackend, notebook_instance_name: str
        ) -> None:
            moto_delete(backend, notebook_instance_name)
            host._forget(notebook_instance_name)

        def delete_from_cloudformation_json(
            cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region: str
        ) -> None:
            # CloudFormation stops the instance and waits for Stopped before deleting it.
            backend = sagemaker_backends[account_id][region]
            name = resource_name.split("/")[-1]
            host._halt_now(backend.get_notebook_instance(name), "CloudFormation delete")
            backend.delete_notebook_instance(name)

        patch = self._patches.replace
        patch(backend_cls, "start_notebook_instance", start_notebook_instance)
        patch(backend_cls, "stop_notebook_instance", stop_notebook_instance)
        patch(backend_cls, "update_notebook_instance", update_notebook_instance)
        patch(backend_cls, "delete_notebook_instance", delete_notebook_instance)
        patch(
            backend_cls,
            "list_notebook_instance_lifecycle_configs",
            list_notebook_instance_lifecycle_configs,
        )
        patch(
            backend_cls,
            "create_notebook_instance_lifecycle_config",
            with_hook_length_check(backend_cls.create_notebook_instance_lifecycle_config),
        )
        patch(
            FakeSagemakerNotebookInstance,
            "to_dict",
            with_failure_reason(FakeSagemakerNotebookInstance.to_dict),
        )
        patch(
            FakeSagemakerNotebookInstance,
            "delete_from_cloudformation_json",
            classmethod(delete_from_cloudformation_json),
        )
        patch(SageMakerResponse, "update_notebook_instance", update_notebook_instance_handler)
        patch(
            SageMakerResponse,
            "create_notebook_instance",
            with_platform_settings(SageMakerResponse.create_notebook_instance),
        )
        patch(
            SageMakerResponse,
            "list_notebook_instance_lifecycle_configs",
            list_notebook_instance_lifecycle_configs_handler,
        )
        atexit.register(self._end_all)

    def reset(self) -> None:
        """End every instance's processes at once and forget runs, transitions and sandboxes."""
        self._end_all()
        with self._lock:
            self._runs.clear()
            self.transitions.clear()
            sandboxes, self._sandboxes = self._sandboxes, set()
        for root in sandboxes:
            shutil.rmtree(root, ignore_errors=True)

    def uninstall(self) -> None:
        self.reset()
        self._patches.restore()
        atexit.unregister(self._end_all)
        if self.config.temporary:
            shutil.rmtree(self.config.sandbox_root, ignore_errors=True)

    # -- inspection -------------------------------------------------------------------------

    def sandbox(self, name: str) -> Sandbox:
        return Sandbox(self.config.sandbox_root / name)

    def hook_log(self, name: str) -> str:
        """All the instance's OnStart hooks wrote (log stream <name>/LifecycleConfigOnStart)."""
        log = self.sandbox(name).on_start_log
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""

    def processes_alive(self, name: str) -> list[int]:
        """Pids still running for the instance's latest start (hook and all it started)."""
        with self._lock:
            run = self._runs.get(name)
        return run.group.alive() if run else []

    def wait_for_status(self, name: str, status: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            instance = self._backend().get_notebook_instance(name)
            if instance.status == status:
                return
            if time.monotonic() > deadline:
                raise NotebookHostTimeout(
                    f"notebook instance {name!r} is {instance.status}, not {status}, after "
                    f"{timeout:g} s (failure reason: {getattr(instance, 'failure_reason', None)})"
                )
            time.sleep(POLL_SECONDS)

    # -- API entry points (called on moto's server thread) ----------------------------------

    def _start(self, backend: SageMakerModelBackend, name: str) -> None:
        instance = backend.get_notebook_instance(name)
        with self._lock:
            self._refuse_unless(instance, ["Stopped", "Failed"], "Pending")
            run = self._new_run(name)
            instance.failure_reason = None
            self._record(instance, run, "Pending", "StartNotebookInstance")
            if self.config.max_run_seconds is not None:
                run.watchdog = threading.Timer(
                    self.config.max_run_seconds, self._guarded(self._watchdog, instance, run)
                )
                run.watchdog.daemon = True
                run.watchdog.start()
        self._spawn(self._boot, instance, run, backend)

    def _stop(self, backend: SageMakerModelBackend, name: str) -> None:
        instance = backend.get_notebook_instance(name)
        with self._lock:
            self._refuse_unless(instance, ["InService"], "Stopping")
            run = self._current_or_new_run(name)
            self._claim(run)
            self._record(instance, run, "Stopping", "StopNotebookInstance")
        # The caller may be the instance itself: its call returns before its processes end.
        self._spawn(self._halt, instance, run)

    def _update(self, backend: SageMakerModelBackend, name: str, changes: dict[str, Any]) -> None:
        instance = backend.get_notebook_instance(name)
        with self._lock:
            self._refuse_unless(instance, ["Stopped", "Failed"], "Updating")
            apply_update(backend, instance, **changes)
            run = self._new_run(name)
            instance.failure_reason = None
            self._record(instance, run, "Updating", "UpdateNotebookInstance")
        self._spawn(self._finish_update, instance, run)

    # -- the state machine's workers --------------------------------------------------------

    def _boot(
        self, instance: FakeSagemakerNotebookInstance, run: _Run, backend: SageMakerModelBackend
    ) -> None:
        if run.ended.wait(self.config.pending_seconds):
            return
        name = instance.notebook_instance_name
        with self._lock:
            self._sandboxes.add(self.sandbox(name).root)
        self.sandbox(name).prepare(instance.arn, name)
        config_name = instance.lifecycle_config_name
        if not config_name:
            self._enter_service(instance, run, "no lifecycle configuration")
            return
        config_arn = lifecycle_config_arn(backend, config_name)
        config = backend.notebook_instance_lifecycle_configurations.get(config_name)
        if config is None:
            self._fail(instance, run, messages.config_missing(config_arn))
            return
        if not config.on_start:
            self._enter_service(instance, run, "no OnStart hook")
            return
        try:
            script = base64.b64decode(config.on_start[0].get("Content") or "", validate=True)
        except binascii.Error as error:
            self._fail(instance, run, f"OnStart hook of '{config_arn}' is not base64: {error}")
            return
        self._run_hook(backend, instance, run, config_arn, script)

    def _run_hook(
        self,
        backend: SageMakerModelBackend,
        instance: FakeSagemakerNotebookInstance,
        run: _Run,
        config_arn: str,
        script: bytes,
    ) -> None:
        name = instance.notebook_instance_name
        sandbox = self.sandbox(name)
        # AWS writes the hook to /tmp/OnStart_<minute><random> and executes it.
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        script_path = sandbox.tmp / f"OnStart_{datetime.now(UTC):%Y-%m-%d-%H-%M}{suffix}"
        script_path.write_bytes(script)
        script_path.chmod(0o755)
        log_offset = sandbox.on_start_log.stat().st_size if sandbox.on_start_log.exists() else 0
        try:  # the instance's processes hold its role's session (instance metadata service)
            session = session_for(
                self.twin, instance.role_arn, SAGEMAKER_PRINCIPAL, SAGEMAKER_SESSION_NAME
            )
        except RoleNotAssumable:
            self._fail(instance, run, messages.role_not_assumable(instance.role_arn))
            return
        aws_env = {**self.twin.env(), **(session.env() if session else {})}
        hook = Hook(
            script=script_path,
            instance_name=name,
            instance_arn=instance.arn,
            cwd=sandbox.root,
            env=sandbox.env(self.config, aws_env, run.group.marker),
            log=sandbox.on_start_log,
            limit_seconds=self.config.hook_limit_seconds,
        )
        with self._lock:
            if run.ended.is_set():
                return
            run.group.launch(hook)
        exit_code = run.group.wait()
        with sandbox.on_start_log.open("rb") as log:
            log.seek(log_offset)
            output = log.read().decode("utf-8", errors="replace")
        self._publish_log(backend, name, output, session.caller() if session else None)
        if exit_code is None:
            limit = self.config.hook_limit_seconds
            self._fail(instance, run, messages.hook_timed_out(config_arn, instance.arn, limit))
        elif exit_code != 0:
            reason = messages.hook_failed(config_arn, instance.arn, exit_code, output)
            self._fail(instance, run, reason)
        elif not run.ended.wait(self.config.boot_seconds):
            self._enter_service(instance, run, "OnStart hook exited 0")

    def _enter_service(
        self, instance: FakeSagemakerNotebookInstance, run: _Run, reason: str
    ) -> None:
        with self._lock:
            if not run.ended.is_set():
                self._record(instance, run, "InService", reason)

    def _fail(self, instance: FakeSagemakerNotebookInstance, run: _Run, reason: str) -> None:
        """The instance does not start: nothing it ran survives, as when AWS drops the machine."""
        if not self._claim(run):
            return
        run.group.end(self.config.stop_grace_seconds)
        with self._lock:
            self._record(instance, run, "Failed", reason)

    def _halt(self, instance: FakeSagemakerNotebookInstance, run: _Run) -> None:
        time.sleep(self.config.stopping_seconds)
        run.group.end(self.config.stop_grace_seconds)
        with self._lock:
            self._record(instance, run, "Stopped", "instance processes ended")

    def _halt_now(self, instance: FakeSagemakerNotebookInstance, reason: str) -> None:
        """Stop at once, whatever the status (CloudFormation deletes a running instance)."""
        with self._lock:
            if instance.status in ("Stopped", "Failed"):
                return
            run = self._current_or_new_run(instance.notebook_instance_name)
            self._claim(run)
            if instance.status != "Stopping":
                self._record(instance, run, "Stopping", reason)
        run.group.end(self.config.stop_grace_seconds)
        with self._lock:
            self._record(instance, run, "Stopped", reason)

    def _watchdog(self, instance: FakeSagemakerNotebookInstance, run: _Run) -> None:
        with self._lock:
            if instance.status not in ("Pending", "InService") or not self._claim(run):
                return
            limit = self.config.max_run_seconds
            self._record(instance, run, "Stopping", f"watchdog: ran past max_run_seconds={limit:g}")
        self._halt(instance, run)

    def _finish_update(self, instance: FakeSagemakerNotebookInstance, run: _Run) -> None:
        time.sleep(self.config.updating_seconds)
        with self._lock:
            self._record(instance, run, "Stopped", "update applied")

    # -- bookkeeping --------------------------------------------------------------------------

    def _refuse_unless(
        self, instance: FakeSagemakerNotebookInstance, allowed: list[str], target: str
    ) -> None:
        if instance.status not in allowed:
            raise ValidationError(
                messages.transition_refused(instance.status, allowed, target, instance.arn)
            )

    def _new_run(self, name: str) -> _Run:
        previous = self._runs.get(name)
        if previous is not None and previous.watchdog is not None:
            previous.watchdog.cancel()
        run = self._runs[name] = _Run(name, new_group(self.config))
        return run

    def _current_or_new_run(self, name: str) -> _Run:
        run = self._runs.get(name)
        return run if run is not None and not run.ended.is_set() else self._new_run(name)

    def _claim(self, run: _Run) -> bool:
        """Mark the run as ending; False when someone else already ends it (or it was replaced)."""
        with self._lock:
            if run.ended.is_set() or self._runs.get(run.instance_name) is not run:
                return False
            run.ended.set()
            if run.watchdog is not None:
                run.watchdog.cancel()
            return True

    def _record(
        self, instance: FakeSagemakerNotebookInstance, run: _Run, status: str, reason: str
    ) -> None:
        """Move the instance to status, unless the run was replaced meanwhile (reset, delete)."""
        with self._lock:
            if self._runs.get(instance.notebook_instance_name) is not run:
                return
            self.transitions.append(
                Transition(
                    datetime.now(UTC),
                    instance.notebook_instance_name,
                    instance.status,
                    status,
                    reason,
                )
            )
            instance.status = status
            instance.last_modified_time = utcnow()
            if status == "Failed":
                instance.failure_reason = reason

    def _forget(self, name: str) -> None:
        """A deleted instance loses its storage volume: its sandbox goes too."""
        with self._lock:
            run = self._runs.pop(name, None)
            root = self.sandbox(name).root
            self._sandboxes.discard(root)
        if run is not None and run.watchdog is not None:
            run.watchdog.cancel()
        shutil.rmtree(root, ignore_errors=True)

    def _end_all(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
            for run in runs:
                run.ended.set()
                if run.watchdog is not None:
                    run.watchdog.cancel()
        for run in runs:
            try:
                run.group.end(grace_seconds=0)
            except Exception as error:  # one instance that cannot be ended must not keep others
                self.twin.record_error(
                    "sagemaker",
                    f"notebook instance {run.instance_name!r} not ended: {error}",
                    instance=run.instance_name,
                )

    def _publish_log(
        self, backend: SageMakerModelBackend, name: str, output: str, caller: Caller | None
    ) -> None:
        """Mirror the hook's output into CloudWatch Logs, where AWS puts it, with the instance
        role's permissions: without them the lines are lost (and the AccessDenied recorded)."""
        lines = [line for line in output.splitlines() if line]  # CloudWatch refuses empty events
        if not lines or self._log_denied(backend, name, caller):
            return
        if self.config.aws_env is not None:
            try:
                publish_log_events(EnvClients(self.config.aws_env).client("logs"), name, lines)
            except (BotoCoreError, ClientError) as error:  # AWS does not fail the instance either
                self.twin.record_error(
                    "sagemaker", f"hook log of {name!r} not published: {error}", instance=name
                )
            return
        logs = logs_backends[backend.account_id][backend.region_name]
        if LOG_GROUP not in logs.groups:
            with contextlib.suppress(ResourceAlreadyExistsException):  # a concurrent hook won
                logs.create_log_group(LOG_GROUP, {})
        stream = f"{name}/{ON_START_STREAM}"
        logs.ensure_log_stream(LOG_GROUP, stream)
        now_ms = int(time.time() * 1000)
        logs.put_log_events(
            LOG_GROUP, stream, [{"timestamp": now_ms, "message": line} for line in lines]
        )

    def _log_denied(self, backend: SageMakerModelBackend, name: str, caller: Caller | None) -> bool:
        iam = self.twin.find_part(IamEnforcement)
        if iam is None or caller is None:
            return False
        group = f"arn:{caller.partition}:logs:{backend.region_name}:{caller.account}"
        group += f":log-group:{LOG_GROUP}"
        stream = f"{group}:log-stream:{name}/{ON_START_STREAM}"
        needed = [("logs:CreateLogStream", stream), ("logs:PutLogEvents", stream)]
        if LOG_GROUP not in logs_backends[backend.account_id][backend.region_name].groups:
            needed.insert(0, ("logs:CreateLogGroup", group))
        via = f"SageMaker writing {name}'s lifecycle log"
        return any(iam.check(caller, action, [arn], via=via) for action, arn in needed)

    def _backend(self) -> SageMakerModelBackend:
        return sagemaker_backends[self.twin.account_id][self.twin.region]

    def _spawn(
        self,
        target: Callable[..., None],
        instance: FakeSagemakerNotebookInstance,
        run: _Run,
        *extra: Any,
    ) -> None:
        threading.Thread(target=self._guarded(target, instance, run, *extra), daemon=True).start()

    def _guarded(
        self,
        target: Callable[..., None],
        instance: FakeSagemakerNotebookInstance,
        run: _Run,
        *extra: Any,
    ) -> Callable[[], None]:
        """A worker whose unexpected error is reported and fails the instance (never stuck)."""

        def work() -> None:
            try:
                target(instance, run, *extra)
            except Exception as error:
                name = instance.notebook_instance_name
                self.twin.record_error(
                    "sagemaker",
                    f"notebook instance {name!r}: {error!r}",
                    traceback=traceback.format_exc(),
                    instance=name,
                )
                with self._lock:
                    run.ended.set()
                    if run.watchdog is not None:
                        run.watchdog.cancel()
                run.group.end(grace_seconds=0)
                with self._lock:
                    self._record(
                        instance, run, "Failed", f"The twin's notebook host failed: {error}"
                    )

        return work


def new_group(config: NotebookHostConfig) -> HookGroup:
    """An empty group for one start of an instance, on the configured runner."""
    marker = uuid.uuid4().hex
    if config.runner == "container":
        return ContainerGroup(marker, config.container, config.docker, dict(config.extra_env))
    return ProcessGroup(marker)


def publish_log_events(logs: BaseClient, name: str, lines: list[str]) -> None:
    """The hook's output into stream <name>/LifecycleConfigOnStart through the Logs API (for a
    backend's CloudWatch Logs, such as LocalStack's)."""
    stream = f"{name}/{ON_START_STREAM}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now_ms = int(time.time() * 1000)
    for start in range(0, len(lines), LOG_EVENTS_PER_CALL):
        batch = lines[start : start + LOG_EVENTS_PER_CALL]
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": now_ms, "message": line} for line in batch],
        )
