"""May an AWS service invoke this function? Lambda's resource-based policy, evaluated like AWS.

S3, SNS and EventBridge invoke a function only if its policy (``AddPermission``, or
``AWS::Lambda::Permission`` in a template) has a statement allowing that service principal,
for that source ARN and account when the statement names them. A forgotten or mistyped
permission is a classic packaging mistake that works in a lax emulator and fails in AWS; the
twin refuses the invocation and records why, so it fails locally too. The statements go
through the twin's one IAM evaluator (``emulation.iam.policy``), with the request context the
service sends: ``aws:SourceArn``, ``aws:SourceAccount`` (and the legacy ``aws:SourceOwner``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from emulation.iam.policy import Principal, Request, UnsupportedPolicy, evaluate, parse_policy

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction

logger = logging.getLogger("emulation.lambda")


class Invoker(NamedTuple):
    """An AWS service invoking a function on behalf of a resource."""

    principal: str  # "s3.amazonaws.com", "events.amazonaws.com", "sns.amazonaws.com"
    source_arn: str  # the bucket, rule or topic
    source_account: str


def permits(fn: LambdaFunction, caller: Invoker) -> bool:
    """True if the function's resource-based policy lets ``caller`` invoke it."""
    statements = fn.policy.statements if fn.policy is not None else []
    if not statements:
        return False
    policy = parse_policy(
        {"Statement": statements}, f"resource policy of {fn.function_name}", resource_based=True
    )
    service = Principal(
        caller.principal, caller.source_account, kind="Service", matches=(caller.principal,)
    )
    context = {
        "aws:sourcearn": caller.source_arn,
        "aws:sourceaccount": caller.source_account,
        "aws:sourceowner": caller.source_account,
    }
    request = Request(service, "lambda:InvokeFunction", fn.function_arn, context)
    try:
        return evaluate(request, resource=[policy]).allowed
    except UnsupportedPolicy as exc:
        logger.error("%s: refusing %s: the twin cannot evaluate %s", fn.function_name,
                     caller.principal, exc)  # fmt: skip
        return False
