"""Asynchronous invocations as Lambda runs them: a queue, retries, then destinations or a DLQ.

An Event invocation (direct, or from S3, SNS or EventBridge) runs on a small thread pool; a
failed attempt is retried up to ``MaximumRetryAttempts`` times (default two) after a delay
(configurable; AWS waits about one and two minutes) unless the event is older than
``MaximumEventAgeInSeconds``; then the OnFailure destination (SQS, SNS, Lambda, EventBridge)
and the function's dead-letter target get AWS's record shapes. A success goes to OnSuccess.
A service invoking for a resource is refused unless the function's resource-based policy
allows it (``permissions``), and the refusal is recorded, never swallowed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.events.models import events_backends
from moto.sns import models as sns_models
from moto.sqs.models import sqs_backends

from emulation.awslambda.events import iso_now, qualified_arn
from emulation.awslambda.permissions import Invoker, permits
from emulation.awslambda.sandbox import LambdaRuntimeError
from emulation.core.errors import EmulationError
from emulation.iam.authorizer import IamEnforcement
from emulation.iam.credentials import Caller as RoleSession

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction

    from emulation.awslambda.invocation import Invocation
    from emulation.core.twin import Twin

logger = logging.getLogger("emulation.lambda")

AWS_RETRY_DELAYS = (60.0, 120.0)
# What Lambda does with the execution role to deliver a record to each kind of destination
# (Lambda developer guide, "Capturing records of Lambda asynchronous invocations").
DELIVERY_ACTIONS = {
    "sqs": "sqs:SendMessage",
    "sns": "sns:Publish",
    "lambda": "lambda:InvokeFunction",
    "events": "events:PutEvents",
}
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_EVENT_AGE = 21600

# (function, event, invocation type, source, attempt, request id, generation) -> Invocation
Execute = Callable[["LambdaFunction", Any, str, str, int, str, int], "Invocation"]
Resolve = Callable[[str], "LambdaFunction"]


class TwinBusyError(EmulationError, TimeoutError):
    """Asynchronous Lambda work was still running when the caller stopped waiting."""


@dataclass
class _AsyncJob:
    function: LambdaFunction
    event: Any
    source: str
    request_id: str
    generation: int
    received: float = field(default_factory=time.time)
    attempt: int = 1


def _attribute_type(name: str) -> str:
    """Type of the attributes AWS puts on a dead-letter message (ErrorCode is a number)."""
    return "Number" if name == "ErrorCode" else "String"


class AsyncInvoker:
    """Queues Event invocations, retries them and delivers their outcome records.

    ``generation`` changes on every reset: work from an older generation records nothing.
    """

    def __init__(
        self,
        twin: Twin,
        execute: Execute,
        resolve: Resolve,
        *,
        retry_delays: tuple[float, ...] = AWS_RETRY_DELAYS,
        max_workers: int = 4,
    ) -> None:
        self.twin = twin
        self.execute = execute
        self.resolve = resolve
        self.retry_delays = tuple(retry_delays)
        self.max_workers = max_workers
        self.generation = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._timers: dict[str, threading.Timer] = {}
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="twin-lambda")

    def reset(self) -> None:
        """Cancel pending retries and forget queued work (running handlers are the caller's)."""
        with self._lock:
            self.generation += 1
            self._pending = 0
            timers, self._timers = self._timers, {}
            self._idle.notify_all()
        for timer in timers.values():
            timer.cancel()

    def stop(self) -> None:
        self.reset()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def invoke(
        self, fn: LambdaFunction, event: Any, *, source: str, caller: Invoker | None = None
    ) -> str | None:
        """Queue an Event invocation; return its request id (None when the caller is refused)."""
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
            job = _AsyncJob(fn, event, source, str(uuid.uuid4()), self.generation)
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

    # -- the queue ------------------------------------------------------------------------------

    def _submit(self, job: _AsyncJob) -> None:
        with self._lock:
            self._timers.pop(job.request_id, None)
            if job.generation != self.generation or self._pool is None:
                return
            self._pool.submit(self._run_job, job)

    def _run_job(self, job: _AsyncJob) -> None:
        finished = True
        try:
            invocation = self.execute(
                job.function, job.event, "Event", job.source, job.attempt, job.request_id,
                job.generation,
            )  # fmt: skip
            if job.generation != self.generation:
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
                    if job.generation == self.generation:
                        self._pending -= 1
                        self._idle.notify_all()

    def _retry_or_give_up(self, job: _AsyncJob) -> str | None:
        """Schedule the next attempt (None), or say why not: AWS's failure condition."""
        config = invoke_config(job.function)
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
            if job.generation != self.generation:
                return None  # reset meanwhile: the job simply ends
            self._timers[job.request_id] = timer
        logger.info(
            "%s: retrying request %s in %.2f s (attempt %d)",
            job.function.function_name, job.request_id, delay, job.attempt,
        )  # fmt: skip
        timer.start()
        return None

    # -- outcomes -------------------------------------------------------------------------------

    def _record(self, job: _AsyncJob, invocation: Invocation, condition: str) -> dict[str, Any]:
        """AWS's destination record for an asynchronous invocation."""
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not invocation.ok:
            response_context["functionError"] = "Unhandled"
        return {
            "version": "1.0",
            "timestamp": iso_now(),
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
        destinations = invoke_config(job.function).get("DestinationConfig", {})
        target = destinations.get("OnSuccess", {}).get("Destination")
        if target:
            record = self._record(job, invocation, "Success")
            self._deliver(target, json.dumps(record), job, "Success")

    def _on_failure(self, job: _AsyncJob, invocation: Invocation, condition: str) -> None:
        destinations = invoke_config(job.function).get("DestinationConfig", {})
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
        if self._delivery_denied(job.function, service, target_arn):
            return
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
                        name: {"Type": _attribute_type(name), "Value": value}
                        for name, value in attributes.items()
                    },
                )
            elif service == "lambda":
                self.invoke(self.resolve(target_arn), json.loads(body), source="destination")
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

    def _delivery_denied(self, fn: LambdaFunction, service: str, target_arn: str) -> bool:
        """Lambda delivers with the execution role: without the permission the record is lost
        (the twin records the AccessDenied)."""
        iam = self.twin.find_part(IamEnforcement)
        action = DELIVERY_ACTIONS.get(service)
        if iam is None or action is None:
            return False
        caller = RoleSession.of_role(fn.role, fn.function_name)
        via = f"Lambda delivering a record of {fn.function_name}"
        return iam.check(caller, action, [target_arn], via=via) is not None


def invoke_config(fn: LambdaFunction) -> dict[str, Any]:
    """The function's EventInvokeConfig (moto appends on every Put/Update; the last is current)."""
    return fn.event_invoke_config[-1].config if fn.event_invoke_config else {}
