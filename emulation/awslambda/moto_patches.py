"""Where the Lambda runtime hooks into moto's state models (never its wire protocol).

- ``LambdaFunction.invoke`` and ``_invoke_lambda``: RequestResponse runs the handler and returns
  its result, or AWS's error object with FunctionError "Unhandled"; Event queues an asynchronous
  invocation; DryRun runs nothing.
- ``moto.s3.notifications._invoke_awslambda``: an S3 notification is an asynchronous invocation.
- ``moto.sns.models.Subscription.publish`` for protocol "lambda": AWS's SNS event (real topic,
  message id, attributes), asynchronously, instead of moto's canned example.
- ``LambdaFunction.__init__`` / ``update_configuration`` / ``get_configuration`` /
  ``create_from_cloudformation_json``: keep the DeadLetterConfig that moto drops; with IAM
  enforced, refuse a role whose trust policy leaves out lambda.amazonaws.com, as AWS does.
- ``LambdaFunction.docker_client``: absent, so ``/moto-api/data.json`` works without Docker.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, Protocol

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.s3 import notifications as s3_notifications
from moto.sns import models as sns_models

from emulation.awslambda.async_invoke import DELIVERY_ACTIONS
from emulation.awslambda.events import complete_s3_event, sns_event
from emulation.awslambda.permissions import Invoker
from emulation.awslambda.sandbox import LambdaRuntimeError
from emulation.iam.authorizer import IamEnforcement
from emulation.iam.credentials import LAMBDA_PRINCIPAL, Caller, service_may_assume

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction
    from moto.sns.models import Subscription

    from emulation.awslambda.invocation import Invocation
    from emulation.core.patching import Patches
    from emulation.core.twin import Twin


class Runtime(Protocol):
    """What the patches need of the Lambda runtime."""

    twin: Twin

    def function(self, name_or_arn: str) -> LambdaFunction: ...

    def invoke(self, fn: LambdaFunction, event: Any, *, source: str = "invoke") -> Invocation: ...

    def invoke_async(
        self, fn: LambdaFunction, event: Any, *, source: str, caller: Invoker | None = None
    ) -> str | None: ...


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive lookup in werkzeug headers or the plain dicts moto passes internally."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def refuse_undeliverable(twin: Twin, role_arn: str, function_name: str, targets: list[str]) -> None:
    """Lambda checks, when a dead-letter queue or destination is configured, that the
    execution role may deliver there: "The provided execution role does not have permissions
    to call SendMessage on SQS." (InvalidParameterValueException; AWS's CreateFunction and
    PutFunctionEventInvokeConfig answers as reported by users, e.g. elastic/beats#13963)."""
    iam = twin.find_part(IamEnforcement)
    if iam is None or not iam.enabled:
        return
    caller = Caller.of_role(role_arn, function_name)
    for target in targets:
        service = target.split(":")[2] if target.count(":") >= 5 else ""
        action = DELIVERY_ACTIONS.get(service)
        via = f"Lambda checking where {function_name} may deliver records"
        if action and iam.check(caller, action, [target], via=via):
            raise InvalidParameterValueException(
                f"The provided execution role does not have permissions to call "
                f"{action.split(':')[1]} on {service.upper()}."
            )


def _destinations(config: dict[str, Any]) -> list[str]:
    outcomes = (config.get("DestinationConfig") or {}).values()
    return [d["Destination"] for d in outcomes if d.get("Destination")]


def patch_moto(runtime: Runtime, patches: Patches) -> None:
    """Make every path into a moto Lambda function run its handler through ``runtime``."""
    function_class = lambda_models.LambdaFunction

    def invoke(fn: LambdaFunction, body: Any, request_headers: Any, response_headers: Any):
        event = json.loads(body) if body else {}
        invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
        if invocation_type == "Event":
            runtime.invoke_async(fn, event, source="invoke")
            return b""
        if invocation_type == "DryRun":
            return b""
        try:
            invocation = runtime.invoke(fn, event)
        except LambdaRuntimeError as exc:  # recorded by the runtime; the caller gets a 400
            raise InvalidParameterValueException(str(exc)) from exc
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
        caller = Invoker("s3.amazonaws.com", bucket_arn, account_id)
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
            runtime.twin.record_error("lambda", f"SNS message {message_id} not delivered: {exc}")
            return None
        event = sns_event(subscription, message, message_id, subject, message_attributes)
        topic_arn = subscription.topic.arn
        caller = Invoker("sns.amazonaws.com", topic_arn, topic_arn.split(":")[4])
        runtime.invoke_async(fn, event, source="sns", caller=caller)
        return None

    original_init = function_class.__init__
    original_update = function_class.update_configuration
    original_get = function_class.get_configuration

    def init(fn: LambdaFunction, account_id: str, spec: dict[str, Any], *args, **kwargs):
        iam = runtime.twin.find_part(IamEnforcement)
        role = spec.get("Role") or ""
        if iam is not None and iam.enabled and not service_may_assume(role, LAMBDA_PRINCIPAL):
            # CreateFunction's answer when the role's trust policy leaves Lambda out.
            raise InvalidParameterValueException(
                "The role defined for the function cannot be assumed by Lambda."
            )
        dead_letter = (spec.get("DeadLetterConfig") or {}).get("TargetArn")
        if dead_letter:
            refuse_undeliverable(runtime.twin, role, spec.get("FunctionName", ""), [dead_letter])
        original_init(fn, account_id, spec, *args, **kwargs)
        fn.dead_letter_config = spec.get("DeadLetterConfig") or {}

    original_put_config = lambda_models.LambdaBackend.put_function_event_invoke_config

    def put_event_invoke_config(backend: Any, function_name: str, config: dict[str, Any]):
        fn = backend.get_function(function_name)
        refuse_undeliverable(runtime.twin, fn.role, fn.function_name, _destinations(config))
        return original_put_config(backend, function_name, config)

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
    patches.replace(
        lambda_models.LambdaBackend, "put_function_event_invoke_config", put_event_invoke_config
    )
    patches.replace(function_class, "get_configuration", get_configuration)
    patches.replace(s3_notifications, "_invoke_awslambda", s3_to_lambda)
