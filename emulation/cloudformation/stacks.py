"""The twin's in-process fixes of moto's CloudFormation engine (moto 5.2.5), where no API reaches.

Three gaps sit inside moto's engine; this part patches its models in-process, like the other
parts (protocol code untouched):

- a stack created or updated through a change set reports no Outputs;
- a resource that fails during ExecuteChangeSet surfaces as an HTTP error (with a body botocore
  cannot parse), the stack stays REVIEW_IN_PROGRESS and no event names the resource. With the
  part, the stack ends CREATE_FAILED/UPDATE_FAILED (AWS's states with rollback disabled: moto
  cannot roll back) and a resource event carries the reason, as on AWS;
- DeleteStack deletes resources in set order, ignoring dependencies, so a resource whose
  deletion needs its parent (an invoke config needs its function) can fail for good. With the
  part, dependents go first, as CloudFormation does.

What moto skips or mis-wires but the AWS APIs can fix after a deploy is repaired by
``deploy.repairs`` instead. Each gap has a test in tests/emulation/cloudformation that asserts
moto's raw behaviour, so a moto upgrade that closes one says which fix to drop.
"""

from __future__ import annotations

import graphlib
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from emulation.core.patching import Patches


class ResourceFailed(Exception):
    """A resource moto failed to create or update, with the logical id CloudFormation knows."""

    def __init__(self, logical_id: str, resource_type: str, cause: Exception) -> None:
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.cause = cause
        super().__init__(f"{logical_id} ({resource_type}): {_reason(cause)}")


def _reason(exc: Exception) -> str:
    """moto's errors keep their message in ``message``/``description``; others in str()."""
    for attribute in ("message", "description"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(exc) or type(exc).__name__


class CloudFormationPart:
    """Twin part: change sets give a stack its Outputs, and a failing resource fails the stack.

    Patches ``CloudFormationBackend.execute_change_set``, the two functions moto uses to
    create and update one resource, and ``ResourceMap.delete``; protocol code is untouched.
    moto's parser is imported on install, not at start-up (it costs about a second).
    """

    # moto warns (and logs) on every deploy that it skips AWS::S3::BucketPolicy: a known gap,
    # pinned by tests/deploy/test_repairs.py and listed in deploy.repairs.UNREPAIRED, not news.
    KNOWN_WARNING = ("ignore", r"Tried to parse AWS::S3::BucketPolicy", UserWarning)

    def __init__(self) -> None:
        self._patches = Patches()
        self._installed = False
        self._log_filter = _KnownGapFilter()

    def install(self) -> None:
        from moto.cloudformation import models, parsing

        if self._installed:
            return
        self._installed = True
        action, message, category = self.KNOWN_WARNING
        warnings.filterwarnings(action, message=message, category=category)
        logging.getLogger("moto").addFilter(self._log_filter)
        patch = self._patches.replace
        patch(parsing, "parse_and_create_resource", _tagging(parsing.parse_and_create_resource))
        patch(parsing, "parse_and_update_resource", _tagging(parsing.parse_and_update_resource))
        original_execute = models.CloudFormationBackend.execute_change_set

        def execute_change_set(
            backend: Any, change_set_name: str, stack_name: str | None = None
        ) -> None:
            change_set = backend.describe_change_set(change_set_name)
            stack = backend.stacks[change_set.stack_id]
            try:
                original_execute(backend, change_set_name, stack_name)
            except Exception as exc:  # moto raises whatever the resource raised
                _fail_stack(stack, change_set, exc)
                return
            stack._parse_template()
            stack.output_map = stack._create_output_map()

        patch(models.CloudFormationBackend, "execute_change_set", execute_change_set)
        patch(parsing.ResourceMap, "delete", _delete_dependents_first)

    def reset(self) -> None:
        return None

    def uninstall(self) -> None:
        self._patches.restore()
        self._installed = False
        logging.getLogger("moto").removeFilter(self._log_filter)
        action, message, category = self.KNOWN_WARNING
        warnings.filters[:] = [
            f
            for f in warnings.filters
            if not (f[0] == action and f[1] is not None and f[1].pattern == message)
            or f[2] is not category
        ]


class _KnownGapFilter(logging.Filter):
    """Drops moto's "No Moto CloudFormation support for AWS::S3::BucketPolicy" log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "AWS::S3::BucketPolicy" not in record.getMessage()


_SUB_NAME = re.compile(r"\$\{([^!}][^}.]*)")


def references(node: Any, names: set[str]) -> set[str]:
    """The resources a template node refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in names:
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found |= {target} & names
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= set(_SUB_NAME.findall(text)) & names
                if not isinstance(value, str):
                    found |= references(value[1], names)
            else:
                found |= references(value, names)
    elif isinstance(node, list):
        for item in node:
            found |= references(item, names)
    return found


def deletion_order(resources: Mapping[str, Any]) -> list[str]:
    """Logical ids with every resource before the ones it depends on (reverse creation order)."""
    names = set(resources)
    graph = {}
    for logical_id, spec in resources.items():
        depends_on = spec.get("DependsOn", [])
        depends_on = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        graph[logical_id] = (references(spec, names) | depends_on) - {logical_id}
    return list(reversed(list(graphlib.TopologicalSorter(graph).static_order())))


def _delete_dependents_first(resource_map: Any) -> None:
    """moto's ResourceMap.delete, in dependency order (it keeps moto's Retain rule)."""
    for logical_id in deletion_order(resource_map._resource_json_map):
        spec = resource_map._resource_json_map[logical_id]
        parsed = resource_map._parsed_resources.get(logical_id)
        if spec.get("DeletionPolicy") == "Retain" or parsed is None or isinstance(parsed, str):
            continue
        resource_map._delete_resource(parsed, spec)
        resource_map._parsed_resources.pop(logical_id)


def _tagging(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap moto's per-resource create/update so a failure names its logical id."""

    def wrapper(logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(logical_id, resource_json, *args, **kwargs)
        except ResourceFailed:
            raise
        except Exception as exc:
            raise ResourceFailed(logical_id, resource_json.get("Type", ""), exc) from exc

    return wrapper


def _fail_stack(stack: Any, change_set: Any, exc: Exception) -> None:
    """Record the failure as AWS does with rollback disabled: events, then *_FAILED."""
    from moto.cloudformation.models import Event, OutputMap

    operation = change_set.change_set_type  # CREATE or UPDATE
    if isinstance(exc, ResourceFailed):
        failed, resource_type, reason = exc.logical_id, exc.resource_type, _reason(exc.cause)
    else:
        failed, resource_type, reason = stack.name, "AWS::CloudFormation::Stack", _reason(exc)
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failed,
            physical_resource_id="",
            resource_type=resource_type,
            resource_status=f"{operation}_FAILED",
            resource_status_reason=reason,
            resource_properties=None,
        )
    )
    resource_map = stack.resource_map
    for logical_id in resource_map._resource_json_map:
        # Stop moto's lazy map from retrying the failed (and any later) resource on every read.
        resource_map._parsed_resources.setdefault(logical_id, None)
    stack.template = change_set.template
    stack.output_map = OutputMap(resource_map, {}, stack.stack_id)
    stack.status = f"{operation}_FAILED"
    stack._add_stack_event(
        f"{operation}_FAILED",
        resource_status_reason=(
            f"The following resource(s) failed to {operation.lower()}: [{failed}]."
        ),
    )
    change_set.execution_status = "EXECUTE_FAILED"
