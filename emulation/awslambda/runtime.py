"""The twin's Lambda runtime: every path into a Lambda function runs its real handler.

moto stores functions but runs nothing without Docker, and it swallows the failure when S3 or
SNS deliver to Lambda. This part (a TwinPart) puts the pieces of this package together:

- ``sandbox``: runs one handler from the function's own zip in a subprocess, as AWS would;
- ``moto_patches``: direct invoke, S3 and SNS deliveries reach ``invoke`` / ``invoke_async``;
- ``async_invoke``: Event invocations with AWS's retries, destinations and dead-letter queue;
- ``event_invoke_config``: CloudFormation's ``AWS::Lambda::EventInvokeConfig``, which moto lacks.

Every execution is kept in ``invocations``; every failure is logged with its traceback and
kept in ``twin.errors``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import lambda_backends

from emulation.awslambda import event_invoke_config
from emulation.awslambda.async_invoke import AWS_RETRY_DELAYS, AsyncInvoker
from emulation.awslambda.invocation import Invocation
from emulation.awslambda.moto_patches import patch_moto
from emulation.awslambda.sandbox import HandlerRun, LambdaRuntimeError, Sandbox
from emulation.core.patching import Patches
from emulation.iam.authorizer import IamEnforcement, session_for
from emulation.iam.credentials import LAMBDA_PRINCIPAL, RoleNotAssumable

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction

    from emulation.awslambda.permissions import Invoker
    from emulation.core.twin import Twin
    from emulation.iam.credentials import Caller

logger = logging.getLogger("emulation.lambda")


class LambdaRuntime:
    """TwinPart that makes moto's Lambda functions run their handlers."""

    def __init__(
        self,
        twin: Twin,
        *,
        retry_delays: tuple[float, ...] = AWS_RETRY_DELAYS,
        max_workers: int = 4,
    ) -> None:
        self.twin = twin
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._async = AsyncInvoker(
            twin, self._execute, self.function, retry_delays=retry_delays, max_workers=max_workers
        )
        self._patches = Patches()
        self._sandbox: Sandbox | None = None
        self._workdir: Path | None = None

    # -- TwinPart -------------------------------------------------------------------------------

    def install(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="twin-lambda-"))
        self._sandbox = Sandbox(self._workdir, self.twin.endpoint_url)
        self._async.start()
        patch_moto(self, self._patches)
        event_invoke_config.register()

    def reset(self) -> None:
        """Forget everything; pending retries are cancelled and running handlers killed."""
        with self._lock:
            self._async.reset()
            self.invocations.clear()
        if self._sandbox is not None:
            self._sandbox.kill_all("the twin was reset")

    def uninstall(self) -> None:
        self.reset()
        self._patches.restore()
        self._async.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._sandbox = self._workdir = None

    # -- public API -----------------------------------------------------------------------------

    @property
    def retry_delays(self) -> tuple[float, ...]:
        return self._async.retry_delays

    def function(self, name_or_arn: str) -> LambdaFunction:
        """moto's function by name (in the twin's account and region) or by ARN."""
        parts = name_or_arn.split(":")
        account, region = (
            (parts[4], parts[3]) if name_or_arn.startswith("arn:") else
            (self.twin.account_id, self.twin.region)
        )  # fmt: skip
        try:
            return lambda_backends[account][region].get_function(name_or_arn)
        except UnknownFunctionException as exc:
            raise LambdaRuntimeError(f"no Lambda function {name_or_arn} in the twin") from exc

    def invoke(self, fn: LambdaFunction, event: Any, *, source: str = "invoke") -> Invocation:
        """Run the handler now and wait (RequestResponse)."""
        request_id = str(uuid.uuid4())
        try:
            return self._execute(
                fn, event, "RequestResponse", source, 1, request_id, self._async.generation
            )
        except LambdaRuntimeError as exc:
            self.twin.record_error("lambda", str(exc), function=fn.function_name)
            raise

    def invoke_async(
        self, fn: LambdaFunction, event: Any, *, source: str, caller: Invoker | None = None
    ) -> str | None:
        """Queue an asynchronous invocation (Event) with AWS's retries; returns the request id.

        ``caller`` is the AWS service invoking for a resource (S3, SNS, EventBridge): like AWS,
        the twin refuses (and records why) unless the function's policy allows that caller.
        """
        return self._async.invoke(fn, event, source=source, caller=caller)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no asynchronous invocation, retry or delivery is left (TwinBusyError)."""
        self._async.wait_idle(timeout)

    def invocations_of(self, function_name: str | None = None) -> list[Invocation]:
        with self._lock:
            found = list(self.invocations)
        if function_name is None:
            return found
        return [
            inv
            for inv in found
            if function_name in (inv.function_name, inv.function_arn)
            or inv.function_arn.startswith(f"{function_name}:")
        ]

    # -- execution ------------------------------------------------------------------------------

    def _execute(
        self,
        fn: LambdaFunction,
        event: Any,
        invocation_type: str,
        source: str,
        attempt: int,
        request_id: str,
        generation: int,
    ) -> Invocation:
        if self._sandbox is None:
            raise LambdaRuntimeError("the Lambda runtime is not installed in a running twin")
        try:  # Lambda assumes the execution role for the handler, session name = function name
            session = session_for(self.twin, fn.role, LAMBDA_PRINCIPAL, fn.function_name)
        except RoleNotAssumable as exc:
            raise LambdaRuntimeError(f"function {fn.function_name}: {exc}") from exc
        run = self._sandbox.run(fn, event, request_id, session.env() if session else None)
        invocation = Invocation(
            function_name=fn.function_name,
            function_arn=fn.function_arn,
            request_id=request_id,
            invocation_type=invocation_type,
            source=source,
            attempt=attempt,
            event=event,
            payload=run.payload,
            result=json.loads(run.payload) if run.ok else None,
            error=None if run.ok else f"{run.error_type}: {run.error_message}",
            traceback=run.traceback,
            logs=run.logs,
            started_at=run.started_at,
            duration=run.duration,
            max_memory_mb=run.max_memory_mb,
        )
        with self._lock:
            if generation != self._async.generation:
                return invocation  # the twin was reset meanwhile: nothing to record
            self.invocations.append(invocation)
        self._save_logs(fn, run, session.caller() if session else None)
        if invocation.ok:
            logger.info(
                "%s: ok in %.2f s (%s, %s, attempt %d)",
                fn.function_name, run.duration, source, invocation_type, attempt,
            )  # fmt: skip
        else:
            self.twin.record_error(
                "lambda",
                f"{fn.function_name} failed ({source}, {invocation_type}, attempt {attempt}, "
                f"request {request_id}): {invocation.error}",
                traceback=run.traceback,
                function=fn.function_name,
                request_id=request_id,
                attempt=attempt,
            )
        return invocation

    def _save_logs(self, fn: LambdaFunction, run: HandlerRun, caller: Caller | None) -> None:
        """Write the run's log lines to CloudWatch Logs (/aws/lambda/<name>), as AWS does: with
        the execution role's permissions. Without them AWS drops the lines; so does the twin,
        and it records the AccessDenied (Lambda developer guide, "Sending Lambda function logs
        to CloudWatch Logs": the role needs logs:CreateLogGroup, CreateLogStream and
        PutLogEvents)."""
        backend = fn.logs_backend
        iam = self.twin.find_part(IamEnforcement)
        if iam is not None and caller is not None:
            group_arn = f"arn:{caller.partition}:logs:{fn.region}:{caller.account}:log-group:"
            group_arn += fn.logs_group_name
            needed = [
                ("logs:CreateLogStream", f"{group_arn}:log-stream:{run.log_stream}"),
                ("logs:PutLogEvents", f"{group_arn}:log-stream:{run.log_stream}"),
            ]
            if fn.logs_group_name not in backend.groups:
                needed.insert(0, ("logs:CreateLogGroup", group_arn))
            for action, arn in needed:
                if iam.check(
                    caller, action, [arn], via=f"Lambda writing {fn.function_name}'s logs"
                ):
                    return
        backend.ensure_log_group(fn.logs_group_name)
        backend.create_log_stream(fn.logs_group_name, run.log_stream)
        millis = int(run.started_at.timestamp() * 1000)
        events = [{"timestamp": millis, "message": line} for line in run.logs.splitlines()]
        backend.put_log_events(fn.logs_group_name, run.log_stream, events)
