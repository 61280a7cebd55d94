"""The twin's Lambda runtime: every path into a Lambda function runs its real handler.

moto stores functions but runs nothing without Docker, and it swallows the failure when S3 or
SNS deliver to Lambda. This part patches moto's state models (never its wire protocol):

- ``LambdaFunction.invoke`` and ``_invoke_lambda``: RequestResponse runs the handler and returns
  its result, or AWS's error object with FunctionError "Unhandled"; Event queues an asynchronous
  invocation; DryRun runs nothing.
- ``moto.s3.notifications._invoke_awslambda``: an S3 notification is an asynchronous invocation.
- ``moto.sns.models.Subscription.publish`` for protocol "lambda": AWS's SNS event (real topic,
  message id, attributes), asynchronously, instead of moto's canned example.
- ``LambdaFunction.__init__`` / ``update_configuration`` / ``get_configuration`` /
  ``create_from_cloudformation_json``: keep the DeadLetterConfig that moto drops; and
  ``AWS::Lambda::EventInvokeConfig`` gets a CloudFormation model (``lambda_cfn``).
- ``LambdaFunction.docker_client``: absent, so ``/moto-api/data.json`` works without Docker.

S3, SNS and EventBridge invoke a function only if its resource-based policy allows them
(``lambda_policy``), as in AWS.
Asynchronous invocations follow AWS: a small thread pool, up to two retries (delays are
configurable; AWS waits about one and two minutes), then the OnFailure destination (SQS, SNS,
Lambda, EventBridge) and the dead-letter target, in AWS's record shapes. Every execution is kept
in ``invocations``; every failure is logged with its traceback and kept in ``twin.errors``.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import lambda_backends
from moto.events.models import events_backends
from moto.s3 import notifications as s3_notifications
from moto.sns import models as sns_models
from moto.sqs.models import sqs_backends

from emulation import lambda_cfn
from emulation.lambda_policy import Caller, permits
from emulation.lambda_sandbox import HandlerRun, LambdaRuntimeError, Sandbox
from emulation.patching import Patches
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction
    from moto.sns.models import Subscription

    from emulation.twin import Twin

logger = logging.getLogger("emulation.lambda")

AWS_RETRY_DELAYS = (60.0, 120.0)
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_EVENT_AGE = 21600


class TwinBusyError(PipelineError, TimeoutError):
    """Asynchronous Lambda work was still running when the caller stopped waiting."""


@dataclass(frozen=True)
class Invocation:
    """One execution of a handler, as the twin saw it."""

    function_name: str
    function_arn: str
    request_id: str
    invocation_type: str  # "RequestResponse" | "Event"
    source: str  # "invoke" | "s3" | "sns" | "schedule" | "events" | "destination"
    attempt: int
    event: Any
    payload: str  # JSON text returned to the caller (result or AWS's error object)
    result: Any  # the handler's return value (None when it failed)
    error: str | None  # "<errorType>: <errorMessage>"
    traceback: str | None
    logs: str
    started_at: datetime
    duration: float
    max_memory_mb: int

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _AsyncJob:
    function: LambdaFunction
    event: Any
    source: str
    request_id: str
    generation: int
    received: float = field(default_factory=time.time)
    attempt: int = 1


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive lookup in werkzeug headers or the plain dicts moto passes internally."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _attribute_type(name: str) -> str:
    """Type of the attributes AWS puts on a dead-letter message (ErrorCode is a number)."""
    return "Number" if name == "ErrorCode" else "String"


def qualified_arn(fn: LambdaFunction) -> str:
    """AWS names the executed version in records: ``...:function:name:$LATEST``."""
    return f"{fn.function_arn}:$LATEST" if str(fn.version) == "$LATEST" else fn.function_arn


def complete_s3_event(event: dict[str, Any], account_id: str) -> dict[str, Any]:
    """moto's S3 event plus the fields AWS also sends (identity, request ids, sequencer)."""
    for record in event["Records"]:
        principal = {"principalId": f"AWS:{account_id}"}
        record.setdefault("userIdentity", principal)
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault(
            "responseElements",
            {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
        )
        record["s3"]["bucket"].setdefault("ownerIdentity", principal)
        record["s3"]["object"].setdefault("sequencer", f"{time.time_ns():X}")
    return event


def sns_event(
    subscription: Subscription,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The event AWS hands a Lambda subscribed to a topic."""
    topic_arn = subscription.topic.arn
    region = topic_arn.split(":")[3]
    endpoint = f"https://sns.{region}.amazonaws.com"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": _iso_now(),
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": f"{endpoint}/SimpleNotificationService-twin.pem",
                    "UnsubscribeUrl": (
                        f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"
                    ),
                    "MessageAttributes": message_attributes or {},
                },
            }
        ]
    }


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
        self.retry_delays = tuple(retry_delays)
        self.max_workers = max_workers
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._generation = 0
        self._timers: dict[str, threading.Timer] = {}
        self._patches = Patches()
        self._sandbox: Sandbox | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._workdir: Path | None = None

    # -- TwinPart -------------------------------------------------------------------------------

    def install(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="twin-lambda-"))
        self._sandbox = Sandbox(self._workdir, self.twin.endpoint_url)
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="twin-lambda")
        self._patch_moto()
        lambda_cfn.register()

    def reset(self) -> None:
        """Forget everything; pending retries are cancelled and running handlers killed."""
        with self._lock:
            self._generation += 1
            self._pending = 0
            timers, self._timers = self._timers, {}
            self.invocations.clear()
            self._idle.notify_all()
        for timer in timers.values():
            timer.cancel()
        if self._sandbox is not None:
            self._sandbox.kill_all("the twin was reset")

    def uninstall(self) -> None:
        self.reset()
        self._patches.restore()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._pool = self._sandbox = self._workdir = None

    # -- public API -----------------------------------------------------------------------------

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
                fn, event, "RequestResponse", source, 1, request_id, self._generation
            )
        except LambdaRuntimeError as exc:
            self.twin.record_error("lambda", str(exc), function=fn.function_name)
            raise

    def invoke_async(
        self, fn: LambdaFunction, event: Any, *, source: str, caller: Caller | None = None
    ) -> str | None:
        """Queue an asynchronous invocation (Event) with AWS's retries; returns the request id.

        ``caller`` is the AWS service invoking for a resource (S3, SNS, EventBridge): like AWS,
        the twin refuses (and records why) unless the function's policy allows that caller.
        """
        if caller is not None and not permits(fn, caller):
            self.twin.record_error(
                "lambda",
                f"{caller.principal} may not invoke {fn.function_name} for {caller.source_arn}: "
                "no statement of the function's resource-based policy allows it, so AWS would "
                "not invoke it (add lambda:AddPermission / AWS::Lambda::Permission)",
                function=fn.function_name,
                source=source,
            )
            return None
        with self._lock:
            job = _AsyncJob(fn, event, source, str(uuid.uuid4()), self._generation)
            self._pending += 1
        logger.info("%s: queued %s event (request %s)", fn.function_name, source, job.request_id)
        self._submit(job)
        return job.request_id

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no asynchronous invocation, retry or delivery is left."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise TwinBusyError(
                    f"{self._pending} asynchronous Lambda invocation(s) still pending "
                    f"after {timeout:.1f} s"
                )

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
        run = self._sandbox.run(fn, event, request_id)
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
            if generation != self._generation:
                return invocation  # the twin was reset meanwhile: nothing to record
            self.invocations.append(invocation)
        self._save_logs(fn, run)
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

    def _save_logs(self, fn: LambdaFunction, run: HandlerRun) -> None:
        """Write the run's log lines to CloudWatch Logs (/aws/lambda/<name>), as AWS does."""
        backend = fn.logs_backend
        backend.ensure_log_group(fn.logs_group_name)
        backend.create_log_stream(fn.logs_group_name, run.log_stream)
        millis = int(run.started_at.timestamp() * 1000)
        events = [{"timestamp": millis, "message": line} for line in run.logs.splitlines()]
        backend.put_log_events(fn.logs_group_name, run.log_stream, events)

    # -- asynchronous invocations ---------------------------------------------------------------

    def _submit(self, job: _AsyncJob) -> None:
        with self._lock:
            self._timers.pop(job.request_id, None)
            if job.generation != self._generation or self._pool is None:
                return
            self._pool.submit(self._run_job, job)

    def _run_job(self, job: _AsyncJob) -> None:
        finished = True
        try:
            invocation = self._execute(
                job.function, job.event, "Event", job.source, job.attempt, job.request_id,
                job.generation,
            )  # fmt: skip
            if job.generation != self._generation:
                return
            if invocation.ok:
                self._on_success(job, invocation)
            else:
                condition = self._retry_or_give_up(job)
                if condition is None:
                    finished = False
                else:
                    self._on_failure(job, invocation, condition)
        except Exception as exc:
            self.twin.record_error(
                "lambda",
                f"asynchronous invocation {job.request_id} of {job.function.function_name} "
                f"could not run: {exc}",
                traceback=traceback.format_exc(),
            )
        finally:
            if finished:
                with self._lock:
                    if job.generation == self._generation:
                        self._pending -= 1
                        self._idle.notify_all()

    def _retry_or_give_up(self, job: _AsyncJob) -> str | None:
        """Schedule the next attempt (None), or say why not: AWS's failure condition."""
        config = self._invoke_config(job.function)
        if job.attempt > config.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES):
            return "RetriesExhausted"
        delay = self.retry_delays[min(job.attempt - 1, len(self.retry_delays) - 1)]
        max_age = config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE)
        if time.time() + delay - job.received > max_age:
            return "EventAgeExceeded"
        job.attempt += 1
        timer = threading.Timer(delay, self._submit, (job,))
        timer.daemon = True
        with self._lock:
            if job.generation != self._generation:
                return None  # reset meanwhile: the job simply ends
            self._timers[job.request_id] = timer
        logger.info(
            "%s: retrying request %s in %.2f s (attempt %d)",
            job.function.function_name, job.request_id, delay, job.attempt,
        )  # fmt: skip
        timer.start()
        return None

    @staticmethod
    def _invoke_config(fn: LambdaFunction) -> dict[str, Any]:
        # moto appends on every Put/Update; the last one is the function's current config.
        return fn.event_invoke_config[-1].config if fn.event_invoke_config else {}

    def _record(self, job: _AsyncJob, invocation: Invocation, condition: str) -> dict[str, Any]:
        """AWS's destination record for an asynchronous invocation."""
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not invocation.ok:
            response_context["functionError"] = "Unhandled"
        return {
            "version": "1.0",
            "timestamp": _iso_now(),
            "requestContext": {
                "requestId": job.request_id,
                "functionArn": qualified_arn(job.function),
                "condition": condition,
                "approximateInvokeCount": job.attempt,
            },
            "requestPayload": job.event,
            "responseContext": response_context,
            "responsePayload": json.loads(invocation.payload),
        }

    def _on_success(self, job: _AsyncJob, invocation: Invocation) -> None:
        destinations = self._invoke_config(job.function).get("DestinationConfig", {})
        target = destinations.get("OnSuccess", {}).get("Destination")
        if target:
            record = self._record(job, invocation, "Success")
            self._deliver(target, json.dumps(record), job, "Success")

    def _on_failure(self, job: _AsyncJob, invocation: Invocation, condition: str) -> None:
        destinations = self._invoke_config(job.function).get("DestinationConfig", {})
        target = destinations.get("OnFailure", {}).get("Destination")
        dead_letter = (getattr(job.function, "dead_letter_config", None) or {}).get("TargetArn")
        if target:
            record = self._record(job, invocation, condition)
            self._deliver(target, json.dumps(record), job, "Failure")
        if dead_letter:
            attributes = {
                "RequestID": job.request_id,
                "ErrorCode": "200",
                "ErrorMessage": (invocation.error or "")[:1024],
            }
            self._deliver(dead_letter, json.dumps(job.event), job, "Failure", attributes)
        if not target and not dead_letter:
            logger.warning(
                "%s: request %s dropped after %d attempt(s) (%s); no destination or DLQ",
                job.function.function_name, job.request_id, job.attempt, condition,
            )  # fmt: skip

    def _deliver(
        self,
        target_arn: str,
        body: str,
        job: _AsyncJob,
        outcome: str,
        attributes: dict[str, str] | None = None,
    ) -> None:
        """Send a record (or the original event, for a DLQ) to an SQS/SNS/Lambda/EventBridge ARN."""
        parts = target_arn.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        attributes = attributes or {}
        try:
            if service == "sqs":
                sqs_backends[account][region].send_message(
                    queue_name=parts[5],
                    message_body=body,
                    message_attributes={
                        name: {"DataType": _attribute_type(name), "StringValue": value}
                        for name, value in attributes.items()
                    },
                )
            elif service == "sns":
                sns_models.sns_backends[account][region].publish(
                    message=body,
                    arn=target_arn,
                    message_attributes={
                        name: {
                            "Type": "Number" if name == "ErrorCode" else "String",
                            "Value": value,
                        }
                        for name, value in attributes.items()
                    },
                )
            elif service == "lambda":
                self.invoke_async(self.function(target_arn), json.loads(body), source="destination")
            elif service == "events":
                events_backends[account][region].put_events(
                    [
                        {
                            "Source": "lambda",
                            "DetailType": f"Lambda Function Invocation Result - {outcome}",
                            "Detail": body,
                            "EventBusName": target_arn,
                            "Resources": [qualified_arn(job.function)],
                        }
                    ]
                )
            else:
                raise LambdaRuntimeError(f"the twin cannot deliver to {service} ({target_arn})")
        except Exception as exc:
            self.twin.record_error(
                "lambda",
                f"{job.function.function_name}: could not deliver request {job.request_id} "
                f"to {target_arn}: {exc}",
                traceback=traceback.format_exc(),
            )
            return
        logger.info(
            "%s: delivered request %s (%s) to %s",
            job.function.function_name, job.request_id, outcome, target_arn,
        )  # fmt: skip

    # -- moto patches ---------------------------------------------------------------------------

    def _patch_moto(self) -> None:
        runtime = self
        patches = self._patches
        function_class = lambda_models.LambdaFunction

        def invoke(fn: LambdaFunction, body: Any, request_headers: Any, response_headers: Any):
            event = json.loads(body) if body else {}
            invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
            if invocation_type == "Event":
                runtime.invoke_async(fn, event, source="invoke")
                return b""
            if invocation_type == "DryRun":
                return b""
            invocation = runtime.invoke(fn, event)
            if not invocation.ok:
                response_headers["x-amz-function-error"] = "Unhandled"
            tail = invocation.logs.encode("utf-8")[-4096:]
            response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
            response_headers["x-amz-executed-version"] = str(fn.version)
            return invocation.payload.encode("utf-8")

        def invoke_lambda(fn: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            invocation = runtime.invoke(fn, {} if event is None else event)
            return invocation.payload, not invocation.ok, invocation.logs

        def s3_to_lambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
            try:
                fn = runtime.function(fn_arn)
            except LambdaRuntimeError as exc:
                runtime.twin.record_error("lambda", f"S3 notification not delivered: {exc}")
                return
            event = complete_s3_event(event_body, account_id)
            bucket_arn = event["Records"][0]["s3"]["bucket"]["arn"]
            caller = Caller("s3.amazonaws.com", bucket_arn, account_id)
            runtime.invoke_async(fn, event, source="s3", caller=caller)

        original_publish = sns_models.Subscription.publish

        def sns_publish(
            subscription: Subscription,
            message: str,
            message_id: str,
            subject: str | None = None,
            message_attributes: dict[str, Any] | None = None,
            group_id: str | None = None,
            deduplication_id: str | None = None,
            message_structure: str | None = None,
        ) -> None:
            if subscription.protocol != "lambda":
                return original_publish(
                    subscription, message, message_id, subject, message_attributes,
                    group_id, deduplication_id, message_structure,
                )  # fmt: skip
            matcher = subscription._filter_policy_matcher
            if matcher is not None and not matcher.matches(message_attributes, message):
                return None
            if message_structure == "json":
                message = subscription._parse_message_structure(message, "lambda")
            try:
                fn = runtime.function(subscription.endpoint)
            except LambdaRuntimeError as exc:
                runtime.twin.record_error(
                    "lambda", f"SNS message {message_id} not delivered: {exc}"
                )
                return None
            event = sns_event(subscription, message, message_id, subject, message_attributes)
            topic_arn = subscription.topic.arn
            caller = Caller("sns.amazonaws.com", topic_arn, topic_arn.split(":")[4])
            runtime.invoke_async(fn, event, source="sns", caller=caller)
            return None

        original_init = function_class.__init__
        original_update = function_class.update_configuration
        original_get = function_class.get_configuration

        def init(fn: LambdaFunction, account_id: str, spec: dict[str, Any], *args, **kwargs):
            original_init(fn, account_id, spec, *args, **kwargs)
            fn.dead_letter_config = spec.get("DeadLetterConfig") or {}

        def update_configuration(fn: LambdaFunction, updates: dict[str, Any]) -> dict[str, Any]:
            if "DeadLetterConfig" in updates:
                fn.dead_letter_config = updates["DeadLetterConfig"] or {}
            return original_update(fn, updates)

        def get_configuration(fn: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
            config = original_get(fn, *args, **kwargs)
            dead_letter = getattr(fn, "dead_letter_config", None)
            if dead_letter and dead_letter.get("TargetArn"):
                config["DeadLetterConfig"] = dead_letter
            return config

        original_from_template = function_class.create_from_cloudformation_json

        def create_from_template(
            cls: type, name: str, template: dict[str, Any], *args: Any, **kwargs: Any
        ) -> LambdaFunction:
            fn = original_from_template(name, template, *args, **kwargs)
            fn.dead_letter_config = template["Properties"].get("DeadLetterConfig") or {}
            return fn

        def no_docker(fn: LambdaFunction) -> None:
            # Handlers run in the sandbox. Without this, anything that walks a function's
            # attributes (GET /moto-api/data.json) tries to reach Docker and fails.
            raise AttributeError("the twin runs Lambda functions without Docker")

        patches.replace(function_class, "docker_client", property(no_docker))
        patches.replace(
            function_class, "create_from_cloudformation_json", classmethod(create_from_template)
        )
        patches.replace(sns_models.Subscription, "publish", sns_publish)
        patches.replace(function_class, "invoke", invoke)
        patches.replace(function_class, "_invoke_lambda", invoke_lambda)
        patches.replace(function_class, "__init__", init)
        patches.replace(function_class, "update_configuration", update_configuration)
        patches.replace(function_class, "get_configuration", get_configuration)
        patches.replace(s3_notifications, "_invoke_awslambda", s3_to_lambda)
