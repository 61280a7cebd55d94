"""AWS's request validation for Transcribe, read from botocore's service model.

Transcribe checks every request against its model's constraints (length, pattern, enum, range,
required members) before it acts, and answers a BadRequestException in the wording AWS services
share, for example (boto/boto3#4312, linuxacademy/content-aws-mls-c01#1):

    1 validation error detected: Value 'test/key-6f' at 'transcriptionJobName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+

botocore checks only types, required members and minimums on the client, so a maximum, a pattern
or an enum value is refused by the service, as here. Patterns must match the whole value (AWS
refuses 'test/key-6f' although its start matches ``^[0-9a-zA-Z._-]+``). Enum sets are listed in
the model's order; AWS lists them in no fixed order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.model import Shape

from emulation.transcribe.exceptions import BadRequestException

SERVICE = "transcribe"


@functools.cache
def _input_shape(operation: str) -> Shape:
    model = botocore.session.get_session().get_service_model(SERVICE)
    shape = model.operation_model(operation).input_shape
    assert shape is not None, operation
    return shape


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def request_from_moto(operation: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The API request rebuilt from the snake_case arguments moto's backend receives."""
    members = _input_shape(operation).members
    request = {}
    for member in members:
        value = kwargs.get(xform_name(member))
        if value is not None:
            request[member] = value
    return request


def check_request(operation: str, request: Mapping[str, Any]) -> None:
    """Raise AWS's BadRequestException if `request` breaks a constraint of the model."""
    problems = list(_problems(_input_shape(operation), request, ""))
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise BadRequestException(f"{count} validation {noun} detected: " + "; ".join(problems))


def _member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _render(value: Any) -> str:
    """A value as AWS's (Java) messages print it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _violation(path: str, value: Any, constraint: str) -> str:
    shown = "null" if value is None else f"'{_render(value)}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def _problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if shape.type_name == "structure":
        if not isinstance(value, Mapping):
            return
        required = set(shape.required_members)
        for name, member in shape.members.items():
            child = _member_path(path, name)
            if value.get(name) is None:
                if name in required:
                    yield _violation(child, None, "Member must not be null")
                continue
            yield from _problems(member, value[name], child)
        return
    for constraint in _constraints(shape, value):
        yield _violation(path, value, constraint)
    if shape.type_name == "list" and isinstance(value, list):
        member: Shape = shape.member  # type: ignore[attr-defined]
        if member.type_name == "structure":
            for index, item in enumerate(value, start=1):
                yield from _problems(member, item, f"{path}.{index}.member")
        elif inner := _joined(_constraints(member, item) for item in value):
            yield _violation(path, value, f"Member must satisfy constraint: [{inner}]")
    if shape.type_name == "map" and isinstance(value, Mapping):
        key: Shape = shape.key  # type: ignore[attr-defined]
        if inner := _joined(_constraints(key, name) for name in value):
            yield _violation(path, value, f"Map keys must satisfy constraint: [{inner}]")


def _joined(groups: Iterable[Iterator[str]]) -> str:
    """Distinct constraints broken by the members of a list or the keys of a map."""
    return "; ".join(dict.fromkeys(c for group in groups for c in group))


def _constraints(shape: Shape, value: Any) -> Iterator[str]:
    """The constraints of `shape` that `value` (a scalar, list or map) breaks, in AWS's words."""
    meta = shape.metadata
    if shape.type_name in ("string", "list", "map") and isinstance(value, str | list | Mapping):
        if "min" in meta and len(value) < meta["min"]:
            yield f"Member must have length greater than or equal to {meta['min']}"
        if "max" in meta and len(value) > meta["max"]:
            yield f"Member must have length less than or equal to {meta['max']}"
    if shape.type_name == "string" and isinstance(value, str):
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            yield f"Member must satisfy regular expression pattern: {meta['pattern']}"
        if shape.enum and value not in shape.enum:  # type: ignore[attr-defined]
            yield f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"  # type: ignore[attr-defined]
    if shape.type_name in ("integer", "long") and isinstance(value, int):
        if "min" in meta and value < meta["min"]:
            yield f"Member must have value greater than or equal to {meta['min']}"
        if "max" in meta and value > meta["max"]:
            yield f"Member must have value less than or equal to {meta['max']}"
