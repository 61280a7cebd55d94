"""IAM policy evaluation as AWS documents it, for one account: explicit deny first, then allow.

Sources: IAM User Guide, "Policy evaluation logic" (an explicit Deny in any applicable policy
wins; otherwise an Allow in an identity-based or, in the same account, a resource-based policy
allows; otherwise the request is implicitly denied), "IAM JSON policy elements" (Action and
NotAction match case-insensitively, Resource and NotResource are ARNs matched segment by
segment with ``*`` and ``?``), "Condition operators" (a negated operator is true when the key
is absent; ``...IfExists`` is true when the key is absent) and "Principal" (a resource-based
Allow naming the account root delegates to the account's identity policies: it grants nothing
on its own).

The twin evaluates the condition operators and keys below and nothing else. A statement that
applies to the request and uses anything else raises ``UnsupportedPolicy`` naming it: the twin
refuses such a request instead of guessing, so it can never be more permissive than AWS.
Parsed policies are cached by their text, so evaluating a request costs a few dictionary
look-ups and regular-expression matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from emulation.core.errors import EmulationError

# Keys the twin can put in a request context (lowercase, as AWS compares key names); the
# service-specific ones come from ``iam.context``.
SUPPORTED_KEYS = (
    "aws:securetransport",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "s3:prefix",
    "transcribe:outputbucketname",
    "transcribe:outputkey",
    "dynamodb:leadingkeys",
)
# Set qualifiers for multivalued keys (IAM User Guide, "Multivalued context keys").
_QUALIFIERS = ("forallvalues", "foranyvalue")
# Operator -> (how values compare, negated).
_OPERATORS: dict[str, tuple[str, bool]] = {
    "stringequals": ("equals", False),
    "stringnotequals": ("equals", True),
    "stringequalsignorecase": ("iequals", False),
    "stringnotequalsignorecase": ("iequals", True),
    "stringlike": ("like", False),
    "stringnotlike": ("like", True),
    "arnequals": ("arn", False),
    "arnlike": ("arn", False),
    "arnnotequals": ("arn", True),
    "arnnotlike": ("arn", True),
    "bool": ("bool", False),
}

IMPLICIT = "implicit"  # no applicable Allow
IDENTITY = "identity-based"
RESOURCE = "resource-based"


class UnsupportedPolicy(EmulationError):
    """A policy uses something the twin cannot evaluate (named); the request is refused."""


class PolicyError(EmulationError):
    """A policy document is not valid IAM policy JSON (named element)."""


@dataclass(frozen=True)
class Principal:
    """Who makes the request: an assumed-role session, or an AWS service acting for a resource.

    ``arn`` is what denial messages show (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``);
    ``matches`` lists what a Principal element may name to mean this caller (the role's ARN,
    the session ARN, or the service's name).
    """

    arn: str
    account: str
    kind: str = "AWS"  # "AWS" | "Service"
    matches: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    """One authorization question: may ``principal`` do ``action`` on ``resource``?"""

    principal: Principal
    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*" for actions without a resource type
    # lowercase key -> value; a tuple for a multivalued key (dynamodb:LeadingKeys)
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    denied_by: str = IMPLICIT  # IMPLICIT | IDENTITY | RESOURCE (an explicit Deny)
    statement: str = ""  # the deciding statement's Sid or index, for messages

    def reason(self, action: str) -> str:
        """AWS's wording for why (IAM User Guide, "Troubleshoot access denied error messages")."""
        if self.denied_by == IMPLICIT:
            return f"because no identity-based policy allows the {action} action"
        article = "an" if self.denied_by == IDENTITY else "a"
        return f"with an explicit deny in {article} {self.denied_by} policy"


@dataclass(frozen=True)
class _Condition:
    operator: str
    key: str
    values: tuple[str, ...]
    if_exists: bool
    unsupported: str | None = None  # why the twin cannot evaluate it (raised when it matters)
    qualifier: str | None = None  # "forallvalues" | "foranyvalue" (multivalued keys)


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str  # "Allow" | "Deny"
    actions: tuple[re.Pattern[str], ...]
    not_actions: tuple[re.Pattern[str], ...]
    resources: tuple[tuple[re.Pattern[str], ...], ...] | None  # None: NotResource is used
    not_resources: tuple[tuple[re.Pattern[str], ...], ...]
    principals: tuple[tuple[str, str], ...] | None  # (kind, value); None: identity policy
    conditions: tuple[_Condition, ...]
    source: str  # "policy NAME, statement SID" for messages
    unsupported: str | None = None  # a Resource the twin cannot match (raised when it matters)

    def applies(self, request: Request) -> bool:
        """Action, resource and principal match (conditions are checked separately)."""
        action = request.action
        if self.actions and not any(p.fullmatch(action) for p in self.actions):
            return False
        if self.not_actions and any(p.fullmatch(action) for p in self.not_actions):
            return False
        if self.unsupported:
            raise UnsupportedPolicy(self.unsupported)
        if self.resources is not None:
            if not any(_arn_matches(p, request.resource) for p in self.resources):
                return False
        elif any(_arn_matches(p, request.resource) for p in self.not_resources):
            return False
        return self.principals is None or _principal_matches(self.principals, request.principal)

    def conditions_hold(self, request: Request) -> bool:
        return all(_condition_holds(c, request.context, self.source) for c in self.conditions)


@dataclass(frozen=True)
class Policy:
    name: str
    statements: tuple[Statement, ...]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    if "${" in pattern:
        raise UnsupportedPolicy(
            f"policy variable in {pattern!r}: the twin does not substitute policy variables"
        )
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _arn_pattern(pattern: str) -> tuple[re.Pattern[str], ...]:
    """An ARN pattern as six segment patterns (the last keeps its colons), or ``*``."""
    if pattern == "*":
        return (re.compile(".*", re.DOTALL),)
    return tuple(_glob(segment) for segment in pattern.split(":", 5))


def _arn_matches(pattern: tuple[re.Pattern[str], ...], arn: str) -> bool:
    if len(pattern) == 1:
        return bool(pattern[0].fullmatch(arn))
    segments = arn.split(":", 5)
    return len(segments) == len(pattern) and all(
        p.fullmatch(s) for p, s in zip(pattern, segments, strict=True)
    )


def _principal_matches(principals: tuple[tuple[str, str], ...], caller: Principal) -> bool:
    roots = _account_roots(caller)
    for kind, value in principals:
        if value == "*" and kind in ("*", "AWS"):
            return True
        if kind == caller.kind and (value in caller.matches or (kind == "AWS" and value in roots)):
            return True
    return False


def _account_roots(caller: Principal) -> set[str]:
    """How a Principal element names the caller's whole account: its id or its root ARN."""
    partition = caller.arn.split(":")[1] if caller.arn.startswith("arn:") else "aws"
    return {caller.account, f"arn:{partition}:iam::{caller.account}:root"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value_holds(compare: str, present: str, values: tuple[str, ...]) -> bool:
    if compare == "equals":
        return present in values
    if compare == "like":
        return any(_glob(v).fullmatch(present) for v in values)
    if compare == "arn":
        return any(_arn_matches(_arn_pattern(v), present) for v in values)
    return present.lower() in {v.lower() for v in values}  # iequals, bool


def _condition_holds(
    condition: _Condition, context: Mapping[str, str | tuple[str, ...]], source: str
) -> bool:
    """One condition, as the IAM User Guide's "Condition operators" and "Multivalued context
    keys" define it: ForAllValues holds when every request value matches (so also for none),
    ForAnyValue when at least one does; a single-valued operator on a multivalued key is
    refused by name rather than guessed."""
    if condition.unsupported:
        raise UnsupportedPolicy(condition.unsupported)
    compare, negated = _OPERATORS[condition.operator]
    present = context.get(condition.key)
    if condition.qualifier is not None:
        found = () if present is None else (present,) if isinstance(present, str) else present
        holds = [_value_holds(compare, value, condition.values) != negated for value in found]
        return all(holds) if condition.qualifier == "forallvalues" else any(holds)
    if present is None:
        return condition.if_exists or negated
    if not isinstance(present, str):
        raise UnsupportedPolicy(
            f"{source}: {condition.key} is multivalued: AWS evaluates it with ForAllValues or "
            f"ForAnyValue, not {condition.operator} alone"
        )
    return _value_holds(compare, present, condition.values) != negated


def _conditions(block: Any, source: str) -> tuple[_Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise PolicyError(f"{source}: Condition must be an object")
    found = []
    for operator, clauses in block.items():
        qualifier, _, name = operator.lower().rpartition(":")
        if_exists = name.endswith("ifexists")
        base = name.removesuffix("ifexists")
        if not isinstance(clauses, dict):
            raise PolicyError(f"{source}: condition {operator} must be an object")
        for key, values in clauses.items():
            unsupported = None
            if qualifier and qualifier not in _QUALIFIERS:
                unsupported = f"{source}: condition qualifier {operator.split(':')[0]}"
            elif base not in _OPERATORS:
                unsupported = (
                    f"{source}: condition operator {operator} (the twin evaluates "
                    f"{', '.join(sorted(_OPERATORS))}, each also ...IfExists)"
                )
            elif key.lower() not in SUPPORTED_KEYS:
                unsupported = (
                    f"{source}: condition key {key} (the twin evaluates "
                    f"{', '.join(SUPPORTED_KEYS)})"
                )
            values_text = tuple(_text(v) for v in _as_list(values))
            found.append(
                _Condition(
                    base, key.lower(), values_text, if_exists, unsupported, qualifier or None
                )
            )
    return tuple(found)


def _principals(element: Any, source: str) -> tuple[tuple[str, str], ...]:
    if element == "*":
        return (("*", "*"),)
    if not isinstance(element, dict):
        raise PolicyError(f'{source}: Principal must be "*" or an object')
    found = []
    for kind, values in element.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise PolicyError(f"{source}: unknown principal type {kind}")
        found += [(kind, str(value)) for value in _as_list(values)]
    return tuple(found)


def _statement(raw: Mapping[str, Any], index: int, policy: str, resource_based: bool) -> Statement:
    sid = str(raw.get("Sid") or index)
    source = f"policy {policy}, statement {sid}"
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{source}: Effect must be Allow or Deny, not {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{source}: give exactly one of Action and NotAction")
    if "NotPrincipal" in raw:
        raise UnsupportedPolicy(f"{source}: NotPrincipal (the twin does not evaluate it)")
    has_resource = "Resource" in raw or "NotResource" in raw
    if not has_resource and not resource_based:
        raise PolicyError(f"{source}: an identity-based statement needs Resource or NotResource")
    resources: tuple[tuple[re.Pattern[str], ...], ...] | None = None
    not_resources: tuple[tuple[re.Pattern[str], ...], ...] = ()
    unsupported = None
    try:
        if "NotResource" in raw:
            not_resources = tuple(_arn_pattern(str(r)) for r in _as_list(raw["NotResource"]))
        else:
            resources = tuple(_arn_pattern(str(r)) for r in _as_list(raw.get("Resource", "*")))
    except UnsupportedPolicy as exc:
        resources, unsupported = (), f"{source}: {exc}"
    if resource_based and "Principal" not in raw:
        raise PolicyError(f"{source}: a resource-based statement needs a Principal")
    return Statement(
        sid=sid,
        effect=effect,
        actions=tuple(_glob(str(a), ignore_case=True) for a in _as_list(raw.get("Action", []))),
        not_actions=tuple(
            _glob(str(a), ignore_case=True) for a in _as_list(raw.get("NotAction", []))
        ),
        resources=resources,
        not_resources=not_resources,
        principals=_principals(raw["Principal"], source) if resource_based else None,
        conditions=_conditions(raw.get("Condition"), source),
        source=source,
        unsupported=unsupported,
    )


def _parse(document: Mapping[str, Any], name: str, resource_based: bool) -> Policy:
    statements = document.get("Statement")
    if statements is None:
        raise PolicyError(f"policy {name}: no Statement")
    return Policy(
        name,
        tuple(
            _statement(raw, index, name, resource_based)
            for index, raw in enumerate(_as_list(statements))
        ),
    )


@lru_cache(maxsize=512)
def _parse_text(text: str, name: str, resource_based: bool) -> Policy:
    return _parse(json.loads(text), name, resource_based)


def parse_policy(
    document: str | Mapping[str, Any], name: str, *, resource_based: bool = False
) -> Policy:
    """A policy from its JSON text (cached by text) or an already decoded document."""
    if isinstance(document, str):
        return _parse_text(document, name, resource_based)
    return _parse(document, name, resource_based)


def _applicable(policies: Iterable[Policy], request: Request, effect: str) -> Iterable[Statement]:
    for policy in policies:
        for statement in policy.statements:
            if statement.effect == effect and statement.applies(request):
                yield statement


def evaluate(
    request: Request,
    identity: Sequence[Policy] = (),
    resource: Sequence[Policy] = (),
) -> Decision:
    """AWS's decision for a request inside one account.

    Raises UnsupportedPolicy when the decision depends on a statement the twin cannot evaluate
    (see the module docstring); a statement that does not apply to the request never does.
    """
    for kind, policies in ((IDENTITY, identity), (RESOURCE, resource)):
        for statement in _applicable(policies, request, "Deny"):
            if statement.conditions_hold(request):
                return Decision(False, kind, statement.source)
    for policies, kind in ((identity, IDENTITY), (resource, RESOURCE)):
        for statement in _applicable(policies, request, "Allow"):
            if kind == RESOURCE and _delegates_only(statement, request.principal):
                continue
            if statement.conditions_hold(request):
                return Decision(True, statement=statement.source)
    return Decision(False)


def _delegates_only(statement: Statement, caller: Principal) -> bool:
    """A resource-based Allow that names the caller only through its account's root."""
    roots = _account_roots(caller)
    named = statement.principals or ()
    return all(kind == "AWS" and value in roots for kind, value in named)
