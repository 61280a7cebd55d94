"""The notebook-instance host: SageMaker's instance state machine, run on moto's own models.

moto makes an instance InService at once and runs nothing. With the host installed:

    CreateNotebookInstance  -> Pending -> OnCreate, then OnStart (each exits 0) -> InService
    StartNotebookInstance   Stopped|Failed -> Pending -> OnStart exits 0        -> InService
                            a hook exits non-zero or runs past the limit        -> Failed (+ reason)
    StopNotebookInstance    InService -> Stopping -> (processes ended)          -> Stopped
    UpdateNotebookInstance  Stopped|Failed -> Updating                          -> Stopped
    watchdog                Pending|InService past max_run_seconds -> Stopping -> Stopped

Any other transition is refused with AWS's ValidationException. Hooks run as in AWS: in Pending,
as root, one after the other on the start's machine; what they background keeps running while
the instance is InService, and ends when the instance stops or fails. Where they run is the
config's runner (hooks.py): local processes, in a mount namespace with AWS's paths when the
host allows one (machine.py), or the notebook-instance container.
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
    FakeSageMakerNotebookInstanceLifecycleConfig,
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
from emulation.sagemaker import cloudformation, machine, messages
from emulation.sagemaker.config import NotebookHostConfig, Sandbox
from emulation.sagemaker.container import ContainerGroup
from emulation.sagemaker.hooks import ON_CREATE, ON_START, Hook, HookGroup
from emulation.sagemaker.moto_additions import (
    apply_update,
    by_arn,
    delete_config_from_cloudformation_json,
    lifecycle_config_arn,
    list_notebook_instance_lifecycle_configs,
    list_notebook_instance_lifecycle_configs_handler,
    update_notebook_instance_handler,
    with_create_settings,
    with_description,
    with_hook_checks,
    with_instances_by_arn,
)
from emulation.sagemaker.processes import POLL_SECONDS, ProcessGroup

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.client import BaseClient

    from emulation.core.twin import Twin

LOG_GROUP = "/aws/sagemaker/NotebookInstances"
ON_START_STREAM = "LifecycleConfigOnStart"  # stream <name>/LifecycleConfig<hook>
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
    # The simulated Pending after the hook and Stopping, cut short by a test (end_pending,
    # end_stopping) that has seen what it waited for, instead of sleeping a worst case.
    pending_over: threading.Event = field(default_factory=threading.Event)
    stopping_over: threading.Event = field(default_factory=threading.Event)

    def end(self) -> None:
        """Mark the run as ending (its caller ends the processes): no timer, no Pending left."""
        self.ended.set()
        self.pending_over.set()
        if self.watchdog is not None:
            self.watchdog.cancel()


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
        # Probed first: the log says at start-up how hooks will run, and a configured mode that
        # cannot work here fails before anything is patched.
        self.isolation()
        host = self
        backend_cls = SageMakerModelBackend
        moto_create = backend_cls.create_notebook_instance
        moto_delete = backend_cls.delete_notebook_instance

        def create_notebook_instance(
            backend: SageMakerModelBackend, notebook_instance_name: str, **settings: Any
        ) -> FakeSagemakerNotebookInstance:
            return host._create(backend, moto_create, notebook_instance_name, settings)

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
            # CloudFormation stops the instance and waits for Stopped before deleting it. The
            # physical id is the ARN, whose name SageMaker lowercases: found by ARN.
            backend = sagemaker_backends[account_id][region]
            name = by_arn(backend.notebook_instances, resource_name)
            host._halt_now(backend.get_notebook_instance(name), "CloudFormation delete")
            backend.delete_notebook_instance(name)

        patch = self._patches.replace
        patch(backend_cls, "create_notebook_instance", create_notebook_instance)
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
            with_hook_checks(backend_cls.create_notebook_instance_lifecycle_config),
        )
        patch(
            backend_cls,
            "_get_resource_from_arn",
            with_instances_by_arn(backend_cls._get_resource_from_arn),
        )
        patch(
            FakeSagemakerNotebookInstance,
            "to_dict",
            with_description(FakeSagemakerNotebookInstance.to_dict),
        )
        patch(
            FakeSagemakerNotebookInstance,
            "delete_from_cloudformation_json",
            classmethod(delete_from_cloudformation_json),
        )
        patch(
            FakeSageMakerNotebookInstanceLifecycleConfig,
            "delete_from_cloudformation_json",
            classmethod(delete_config_from_cloudformation_json),
        )
        cloudformation.declared_names(patch)
        patch(SageMakerResponse, "update_notebook_instance", update_notebook_instance_handler)
        patch(
            SageMakerResponse,
            "create_notebook_instance",
            with_create_settings(SageMakerResponse.create_notebook_instance),
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

    def hook_log(self, name: str, hook: str = ON_START) -> str:
        """All the instance's hooks of one kind wrote (stream <name>/LifecycleConfig<hook>)."""
        log = self.sandbox(name).hook_log(hook)
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""

    def isolation(self) -> machine.Isolation:
        """How hooks run here (machine.py); the container runner has its own machine."""
        if self.config.runner != "process":
            return machine.Isolation(machine.ENVIRONMENT, False, "the notebook-instance container")
        return machine.resolve(self.config.machine, self.config.python_bin_dir)

    def end_pending(self, name: str) -> None:
        """End the instance's simulated Pending after its hook now (``boot_seconds``): for a test
        that holds it Pending until the run has shown what it does there."""
        if (run := self._latest_run(name)) is not None:
            run.pending_over.set()

    def end_stopping(self, name: str) -> None:
        """End the instance's simulated Stopping now (``stopping_seconds``), likewise."""
        if (run := self._latest_run(name)) is not None:
            run.stopping_over.set()

    def processes_alive(self, name: str) -> list[int]:
        """Pids still running for the instance's latest start (hook and all it started)."""
        run = self._latest_run(name)
        return run.group.alive() if run else []

    def _latest_run(self, name: str) -> _Run | None:
        with self._lock:
            return self._runs.get(name)

    def wait_for_status(self, name: str, status: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            instance = self._backend().get_notebook_instance(name)
            if instance.status == status:
                return
            if time.monotonic() > deadline or instance.status == "Failed":
                reason = getattr(instance, "failure_reason", None)
                raise NotebookHostTimeout(
                    f"notebook instance {name!r} is {instance.status}, not {status} (waited up "
                    f"to {timeout:g} s; failure reason: {reason})"
                )
            time.sleep(POLL_SECONDS)

    # -- API entry points (called on moto's server thread) ----------------------------------

    def _create(
        self,
        backend: SageMakerModelBackend,
        moto_create: Callable[..., FakeSagemakerNotebookInstance],
        name: str,
        settings: dict[str, Any],
    ) -> FakeSagemakerNotebookInstance:
        """moto's instance, then Pending: SageMaker runs OnCreate and OnStart before InService
        ("OnStart ... runs every time you start a notebook instance, including when you create
        the notebook instance", CreateNotebookInstanceLifecycleConfig)."""
        config_name = settings.get("lifecycle_config_name")
        if config_name and config_name not in backend.notebook_instance_lifecycle_configurations:
            raise ValidationError(
                messages.config_missing(lifecycle_config_arn(backend, config_name))
            )
        try:  # SageMaker must be able to assume the role it is given
            session_for(
                self.twin, settings["role_arn"], SAGEMAKER_PRINCIPAL, SAGEMAKER_SESSION_NAME
            )
        except RoleNotAssumable as refused:
            raise ValidationError(messages.role_not_assumable(settings["role_arn"])) from refused
        instance = moto_create(backend, name, **settings)
        instance.arn = instance.arn.lower()  # SageMaker lowercases names in its ARNs
        with self._lock:
            run = self._new_run(name)
            self._record(instance, run, "Pending", "CreateNotebookInstance", created=True)
            self._arm_watchdog(instance, run)
        self._spawn(self._boot, instance, run, backend, True)
        return instance

    def _start(self, backend: SageMakerModelBackend, name: str) -> None:
        instance = backend.get_notebook_instance(name)
        with self._lock:
            self._refuse_unless(instance, ["Stopped", "Failed"], "Pending")
            run = self._new_run(name)
            instance.failure_reason = None
            self._record(instance, run, "Pending", "StartNotebookInstance")
            self._arm_watchdog(instance, run)
        self._spawn(self._boot, instance, run, backend, False)

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
        self,
        instance: FakeSagemakerNotebookInstance,
        run: _Run,
        backend: SageMakerModelBackend,
        creating: bool,
    ) -> None:
        if run.ended.wait(self.config.pending_seconds):
            return
        name = instance.notebook_instance_name
        sandbox = self.sandbox(name)
        with self._lock:
            self._sandboxes.add(sandbox.root)
        sandbox.prepare(self.isolation(), self.config, instance.arn, name)
        config_name = instance.lifecycle_config_name
        if not config_name:
            self._enter_service(instance, run, "no lifecycle configuration")
            return
        config_arn = lifecycle_config_arn(backend, config_name)
        config = backend.notebook_instance_lifecycle_configurations.get(config_name)
        if config is None:
            self._fail(instance, run, messages.config_missing(config_arn))
            return
        scripts = []
        for event, hooks in ((ON_CREATE, config.on_create), (ON_START, config.on_start)):
            if not hooks or (event == ON_CREATE and not creating):
                continue
            try:
                scripts.append(
                    (event, base64.b64decode(hooks[0].get("Content") or "", validate=True))
                )
            except binascii.Error as error:
                self._fail(instance, run, f"{event} hook of '{config_arn}' is not base64: {error}")
                return
        if not scripts:
            self._enter_service(instance, run, "no hook to run")
            return
        try:  # the instance's processes hold its role's session (instance metadata service)
            session = session_for(
                self.twin, instance.role_arn, SAGEMAKER_PRINCIPAL, SAGEMAKER_SESSION_NAME
            )
        except RoleNotAssumable:
            self._fail(instance, run, messages.role_not_assumable(instance.role_arn))
            return
        aws_env = {**self.twin.env(), **(session.env() if session else {})}
        caller = session.caller() if session else None
        for event, script in scripts:
            if not self._run_hook(
                backend, instance, run, config_arn, event, script, aws_env, caller
            ):
                return
        run.pending_over.wait(self.config.boot_seconds)
        if not run.ended.is_set():
            ran = " and ".join(event for event, _ in scripts)
            self._enter_service(instance, run, f"{ran} exited 0")

    def _run_hook(
        self,
        backend: SageMakerModelBackend,
        instance: FakeSagemakerNotebookInstance,
        run: _Run,
        config_arn: str,
        event: str,
        script: bytes,
        aws_env: dict[str, str],
        caller: Caller | None,
    ) -> bool:
        """Run one hook on the start's machine; True if it exited 0 (else the instance fails)."""
        name = instance.notebook_instance_name
        sandbox = self.sandbox(name)
        # AWS writes the hook to /tmp/<hook>_<minute><random> and executes it.
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        script_path = sandbox.tmp / f"{event}_{datetime.now(UTC):%Y-%m-%d-%H-%M}{suffix}"
        script_path.write_bytes(script)
        script_path.chmod(0o755)
        log = sandbox.hook_log(event)
        log_offset = log.stat().st_size if log.exists() else 0
        hook = Hook(
            event=event,
            script=script_path,
            instance_name=name,
            instance_arn=instance.arn,
            cwd=sandbox.root,
            env=sandbox.env(self.config, self.isolation(), aws_env, run.group.marker),
            log=log,
            limit_seconds=self.config.hook_limit_seconds,
        )
        with self._lock:
            if run.ended.is_set():
                return False
            run.group.launch(hook)
        exit_code = run.group.wait()
        with log.open("rb") as written:
            written.seek(log_offset)
            output = written.read().decode("utf-8", errors="replace")
        self._publish_log(backend, name, event, output, caller)
        if exit_code == 0:
            return True
        limit = self.config.hook_limit_seconds
        why = (
            f"{event} hook ran past {limit:g} s"
            if exit_code is None
            else f"{event} hook exited with status {exit_code}"
        )
        self._fail(instance, run, messages.hook_failed(config_arn, instance.arn, limit), why)
        return False

    def _enter_service(
        self, instance: FakeSagemakerNotebookInstance, run: _Run, reason: str
    ) -> None:
        with self._lock:
            if not run.ended.is_set():
                self._record(instance, run, "InService", reason)

    def _fail(
        self,
        instance: FakeSagemakerNotebookInstance,
        run: _Run,
        reason: str,
        why: str | None = None,
    ) -> None:
        """The instance does not start: nothing it ran survives, as when AWS drops the machine.
        ``reason`` is the FailureReason AWS reports; ``why`` the transition's, if more precise."""
        if not self._claim(run):
            return
        run.group.end(self.config.stop_grace_seconds)
        with self._lock:
            self._record(instance, run, "Failed", why or reason, failure_reason=reason)

    def _halt(self, instance: FakeSagemakerNotebookInstance, run: _Run) -> None:
        run.stopping_over.wait(self.config.stopping_seconds)
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

    def _arm_watchdog(self, instance: FakeSagemakerNotebookInstance, run: _Run) -> None:
        if self.config.max_run_seconds is not None:
            run.watchdog = threading.Timer(
                self.config.max_run_seconds, self._guarded(self._watchdog, instance, run)
            )
            run.watchdog.daemon = True
            run.watchdog.start()

    def _new_run(self, name: str) -> _Run:
        previous = self._runs.get(name)
        if previous is not None and previous.watchdog is not None:
            previous.watchdog.cancel()
        isolation = self.isolation()
        start_machine = self.sandbox(name).machine(isolation, self.config)
        group = new_group(self.config, start_machine if isolation.namespaced else None)
        run = self._runs[name] = _Run(name, group)
        return run

    def _current_or_new_run(self, name: str) -> _Run:
        run = self._runs.get(name)
        return run if run is not None and not run.ended.is_set() else self._new_run(name)

    def _claim(self, run: _Run) -> bool:
        """Mark the run as ending; False when someone else already ends it (or it was replaced)."""
        with self._lock:
            if run.ended.is_set() or self._runs.get(run.instance_name) is not run:
                return False
            run.end()
            return True

    def _record(
        self,
        instance: FakeSagemakerNotebookInstance,
        run: _Run,
        status: str,
        reason: str,
        *,
        created: bool = False,
        failure_reason: str | None = None,
    ) -> None:
        """Move the instance to status, unless the run was replaced meanwhile (reset, delete).
        A new instance moves from "" (moto created it InService)."""
        with self._lock:
            if self._runs.get(instance.notebook_instance_name) is not run:
                return
            self.transitions.append(
                Transition(
                    datetime.now(UTC),
                    instance.notebook_instance_name,
                    "" if created else instance.status,
                    status,
                    reason,
                )
            )
            instance.status = status
            instance.last_modified_time = utcnow()
            if status == "Failed":
                instance.failure_reason = failure_reason or reason

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
                run.end()
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
        self,
        backend: SageMakerModelBackend,
        name: str,
        event: str,
        output: str,
        caller: Caller | None,
    ) -> None:
        """Mirror the hook's output into CloudWatch Logs, where AWS puts it, with the instance
        role's permissions: without them the lines are lost (and the AccessDenied recorded)."""
        lines = [line for line in output.splitlines() if line]  # CloudWatch refuses empty events
        stream = log_stream(name, event)
        if not lines or self._log_denied(backend, stream, caller):
            return
        if self.config.aws_env is not None:
            try:
                logs = EnvClients(self.config.aws_env).client("logs")
                publish_log_events(logs, stream, lines)
            except (BotoCoreError, ClientError) as error:  # AWS does not fail the instance either
                self.twin.record_error(
                    "sagemaker", f"hook log of {name!r} not published: {error}", instance=name
                )
            return
        logs = logs_backends[backend.account_id][backend.region_name]
        if LOG_GROUP not in logs.groups:
            with contextlib.suppress(ResourceAlreadyExistsException):  # a concurrent hook won
                logs.create_log_group(LOG_GROUP, {})
        logs.ensure_log_stream(LOG_GROUP, stream)
        now_ms = int(time.time() * 1000)
        logs.put_log_events(
            LOG_GROUP, stream, [{"timestamp": now_ms, "message": line} for line in lines]
        )

    def _log_denied(
        self, backend: SageMakerModelBackend, stream: str, caller: Caller | None
    ) -> bool:
        iam = self.twin.find_part(IamEnforcement)
        if iam is None or caller is None:
            return False
        group = f"arn:{caller.partition}:logs:{backend.region_name}:{caller.account}"
        group += f":log-group:{LOG_GROUP}"
        stream_arn = f"{group}:log-stream:{stream}"
        needed = [("logs:CreateLogStream", stream_arn), ("logs:PutLogEvents", stream_arn)]
        if LOG_GROUP not in logs_backends[backend.account_id][backend.region_name].groups:
            needed.insert(0, ("logs:CreateLogGroup", group))
        name = stream.split("/", 1)[0]
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
                    run.end()
                run.group.end(grace_seconds=0)
                with self._lock:
                    self._record(
                        instance, run, "Failed", f"The twin's notebook host failed: {error}"
                    )

        return work


def new_group(config: NotebookHostConfig, start_machine: machine.Machine | None) -> HookGroup:
    """An empty group for one start of an instance, on the configured runner."""
    marker = uuid.uuid4().hex
    if config.runner == "container":
        return ContainerGroup(marker, config.container, config.docker, dict(config.extra_env))
    return ProcessGroup(marker, start_machine)


def log_stream(name: str, event: str) -> str:
    """Where SageMaker writes a hook's output: stream <name>/LifecycleConfig<hook>."""
    return f"{name}/LifecycleConfig{event}"


def publish_log_events(logs: BaseClient, stream: str, lines: list[str]) -> None:
    """A hook's output into its stream through the Logs API (for a backend's CloudWatch Logs,
    such as LocalStack's)."""
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
