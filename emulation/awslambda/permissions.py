"""May an AWS service invoke this function? Lambda's resource-based policy, evaluated like AWS.

S3, SNS and EventBridge invoke a function only if its policy (``AddPermission``, or
``AWS::Lambda::Permission`` in a template) has a statement allowing that service principal,
for that source ARN and account when the statement names them. A forgotten or mistyped
permission is a classic packaging mistake that works in a lax emulator and fails in AWS; the
twin refuses the invocation and records why, so it fails locally too.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction

INVOKE_ACTIONS = {"lambda:invokefunction", "lambda:*", "*"}


class Caller(NamedTuple):
    """An AWS service invoking a function on behalf of a resource."""

    principal: str  # "s3.amazonaws.com", "events.amazonaws.com", "sns.amazonaws.com"
    source_arn: str  # the bucket, rule or topic
    source_account: str


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition(statement: dict[str, Any], operators: tuple[str, ...], key: str) -> list[str]:
    """The values a statement's Condition gives ``key`` under ``operators`` (any case)."""
    values = []
    for operator, clauses in (statement.get("Condition") or {}).items():
        if operator in operators:
            for name, value in clauses.items():
                if name.lower() == key:
                    values += _as_list(value)
    return values


def _allows(statement: dict[str, Any], caller: Caller) -> bool:
    if statement.get("Effect", "Allow") != "Allow":
        return False
    if not {action.lower() for action in _as_list(statement.get("Action"))} & INVOKE_ACTIONS:
        return False
    principal = statement.get("Principal")
    if principal != "*":
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if caller.principal not in services:
            return False
    arns = _condition(
        statement, ("ArnLike", "ArnEquals", "StringLike", "StringEquals"), "aws:sourcearn"
    )
    if arns and not any(fnmatchcase(caller.source_arn, pattern) for pattern in arns):
        return False
    accounts = _condition(statement, ("StringEquals", "StringLike"), "aws:sourceaccount")
    return not accounts or caller.source_account in accounts


def permits(fn: LambdaFunction, caller: Caller) -> bool:
    """True if some statement of the function's policy lets ``caller`` invoke it."""
    return any(_allows(statement, caller) for statement in fn.policy.statements)
