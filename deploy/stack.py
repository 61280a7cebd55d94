"""Deploy the template through a CloudFormation change set, or delete the stack, on any endpoint.

The same calls run against AWS and the twin; only the clients differ (see ``pipeline.aws``). A
change set rather than CreateStack/UpdateStack gives one path for create and update, a dry run
for free, and an honest "no changes" when nothing differs. boto3's waiters decide when a change
set or a stack operation is done and whether it failed (their acceptors are AWS's own list of
terminal states); its paginators read the change set and the stack's events, which are shown
as they arrive while a waiter waits.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from botocore.parsers import ResponseParserError

from deploy.errors import (
    DeployError,
    InvalidParameterError,
    MissingOutputsError,
    ResourceFailure,
    StackOperationError,
)
from deploy.package import PROJECT_ROOT, build_bundle, ensure_artifacts_bucket, upload_bundle
from deploy.progress import Change, Reporter, default_reporter
from deploy.retained import Retained, refuse_leftovers, removal_hint, retained_resources
from deploy.template import TEMPLATE_PATH, load_template, parameter_problems, parameter_values
from pipeline.aws import Clients, ClientSource
from pipeline.errors import error_code

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.client import BaseClient

# Lowercase because bucket names must be and SageMaker lowercases names in ARNs; 27 characters
# keep <stack>-results-<account>-<region> within S3's 63.
STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,25}[a-z0-9]$")
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
BUSY_SUFFIX = "_IN_PROGRESS"
DEPLOYED = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
CANCELLED = "Resource creation cancelled"
# boto3's waiter for each stack operation.
WAITERS = {
    "CREATE": "stack_create_complete",
    "UPDATE": "stack_update_complete",
    "DELETE": "stack_delete_complete",
}
CHANGE_SET_TIMEOUT_SECONDS = 600.0


def validate_stack_name(stack_name: str) -> str:
    if not STACK_NAME.match(stack_name):
        raise InvalidParameterError(
            f"stack name {stack_name!r}: use 2-27 lowercase letters, digits and hyphens, "
            "starting with a letter (it becomes part of bucket names)"
        )
    return stack_name


def default_artifacts_bucket(clients: Clients) -> str:
    """One artifacts bucket per account and region, shared by stacks (keys start with <stack>/)."""
    return f"asr-monitor-artifacts-{clients.account_id}-{clients.region}"


def deploy_stack(
    session_or_clients: ClientSource | Mapping[str, BaseClient] | Clients,
    stack_name: str,
    parameters: Mapping[str, str] | None = None,
    *,
    artifacts_bucket: str | None = None,
    project_root: Path = PROJECT_ROOT,
    template_path: Path = TEMPLATE_PATH,
    reporter: Reporter | None = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
) -> dict[str, str]:
    """Package, upload, create or update the stack; return its outputs.

    ``parameters`` override template defaults (on an update, parameters not given keep the
    stack's previous values). Raises ``StackOperationError`` with the failing resources.
    """
    deployment = _Deployment(
        Clients(session_or_clients), validate_stack_name(stack_name), reporter, poll_seconds
    )
    return deployment.deploy(
        dict(parameters or {}), artifacts_bucket, project_root, template_path, timeout_seconds
    )


def plan_stack(
    session_or_clients: ClientSource | Mapping[str, BaseClient] | Clients,
    stack_name: str,
    parameters: Mapping[str, str] | None = None,
    *,
    artifacts_bucket: str | None = None,
    project_root: Path = PROJECT_ROOT,
    template_path: Path = TEMPLATE_PATH,
    reporter: Reporter | None = None,
    poll_seconds: float = 5.0,
) -> list[Change]:
    """The dry run: create a change set, return (and show) its changes, delete it unexecuted.

    Nothing is uploaded; the artifact keys are computed from the local files.
    """
    deployment = _Deployment(
        Clients(session_or_clients), validate_stack_name(stack_name), reporter, poll_seconds
    )
    return deployment.plan(dict(parameters or {}), artifacts_bucket, project_root, template_path)


def destroy_stack(
    session_or_clients: ClientSource | Mapping[str, BaseClient] | Clients,
    stack_name: str,
    *,
    delete_retained: bool = False,
    reporter: Reporter | None = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
) -> bool:
    """Empty the stack's buckets, delete the stack, wait, remove its artifacts.

    CloudFormation refuses to delete a bucket that still holds objects (the stack would end in
    DELETE_FAILED), so every object version and delete marker goes first. What the template
    retains (the scores table, the log groups) is kept and named, or deleted too with
    ``delete_retained`` (also when the stack itself is already gone). Returns False when there
    was no such stack.
    """
    deployment = _Deployment(
        Clients(session_or_clients), validate_stack_name(stack_name), reporter, poll_seconds
    )
    return deployment.destroy(timeout_seconds, delete_retained)


def stack_outputs(cfn: BaseClient, stack_name: str) -> dict[str, str]:
    return {
        o["OutputKey"]: o["OutputValue"] for o in _described(cfn, stack_name).get("Outputs", [])
    }


def stack_parameters(cfn: BaseClient, stack_name: str) -> dict[str, str]:
    """The deployed stack's parameter values."""
    return {
        p["ParameterKey"]: p.get("ParameterValue", "")
        for p in _described(cfn, stack_name).get("Parameters", [])
    }


def _described(cfn: BaseClient, stack_name: str) -> dict[str, Any]:
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise DeployError(
                f"stack {stack_name} does not exist here (deploy it: python -m deploy up "
                f"--stack {stack_name})"
            ) from exc
        raise


@dataclass(frozen=True)
class _ChangeSet:
    id: str
    type: str  # CREATE or UPDATE
    stack_id: str
    changes: list[Change]


class _Deployment:
    """One run of up/plan/down against one stack; holds the clients and the reporter."""

    def __init__(
        self, clients: Clients, stack_name: str, reporter: Reporter | None, poll_seconds: float
    ) -> None:
        self.clients = clients
        self.stack_name = stack_name
        self.report = reporter or default_reporter()
        self.poll_seconds = poll_seconds
        self.cfn = clients("cloudformation")

    # ------------------------------------------------------------------ up
    def deploy(
        self,
        given: dict[str, str],
        artifacts_bucket: str | None,
        project_root: Path,
        template_path: Path,
        timeout_seconds: float,
    ) -> dict[str, str]:
        _check_parameters(template_path, given)
        self.report.step(f"Packaging {project_root}")
        bundle = build_bundle(project_root)
        bucket = artifacts_bucket or default_artifacts_bucket(self.clients)
        self.report.step(f"Uploading artifacts to s3://{bucket}")
        s3 = self.clients("s3")
        if ensure_artifacts_bucket(s3, bucket, self.clients.region):
            self.report.info(f"created artifacts bucket {bucket}")
        uploaded, skipped = upload_bundle(s3, bucket, self.stack_name, bundle, self.report.info)
        self.report.info(f"{uploaded} uploaded, {skipped} already present")
        given = {**given, **bundle.parameters(self.stack_name, bucket)}

        change_set = self._create_change_set(template_path, given)
        if change_set is None:
            self.report.info("no changes")
            return self._show_outputs(template_path)
        self.report.changes(change_set.changes)
        self.report.step(f"Executing {change_set.type.lower()} of {self.stack_name}")
        marker = self._newest_event_id(change_set.stack_id)
        try:
            self.cfn.execute_change_set(ChangeSetName=change_set.id)
        # An emulator may answer a failed execution with a body botocore cannot parse.
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            raise self._operation_error(
                "EXECUTE_FAILED", marker, change_set.stack_id, str(exc)
            ) from exc
        self._wait(change_set.type, marker, timeout_seconds, change_set.stack_id, DEPLOYED)
        return self._show_outputs(template_path)

    def plan(
        self,
        given: dict[str, str],
        artifacts_bucket: str | None,
        project_root: Path,
        template_path: Path,
    ) -> list[Change]:
        _check_parameters(template_path, given)
        bundle = build_bundle(project_root)
        bucket = artifacts_bucket or default_artifacts_bucket(self.clients)
        given = {**given, **bundle.parameters(self.stack_name, bucket)}
        change_set = self._create_change_set(template_path, given)
        if change_set is None:
            self.report.info("no changes")
            return []
        self.report.changes(change_set.changes)
        self._discard(change_set.id, change_set.type)
        self.report.info("dry run: change set deleted, nothing executed")
        return change_set.changes

    def _create_change_set(self, template_path: Path, given: dict[str, str]) -> _ChangeSet | None:
        """Create the change set and wait for it; None when there is nothing to change."""
        body = template_path.read_text(encoding="utf-8")
        template = load_template(body)
        stack = self._describe()
        change_set_type = (
            "CREATE" if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
        )
        if stack is not None and change_set_type == "UPDATE":
            self._check_updatable(stack)
        if change_set_type == "CREATE":
            kept = retained_resources(template, self.stack_name, given, self.clients)
            refuse_leftovers(kept, self.stack_name, self.clients)
        previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
        parameters = self._parameter_list(
            template, given, previous if change_set_type == "UPDATE" else set()
        )
        name = f"deploy-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        self.report.step(f"Change set {name} ({change_set_type.lower()} {self.stack_name})")
        try:
            created = self.cfn.create_change_set(
                StackName=self.stack_name,
                ChangeSetName=name,
                ChangeSetType=change_set_type,
                TemplateBody=body,
                Parameters=parameters,
                Capabilities=CAPABILITIES,
                Description="python -m deploy up",
            )
        except ClientError as exc:
            if any(text in str(exc) for text in NO_CHANGES):
                return None
            raise DeployError(f"stack {self.stack_name}: cannot create change set: {exc}") from exc
        change_set_id = created["Id"]
        described = self._wait_for_change_set(change_set_id, name)
        if described["Status"] == "FAILED":
            reason = described.get("StatusReason", "")
            self._discard(change_set_id, change_set_type)
            if any(text in reason for text in NO_CHANGES):
                return None
            raise DeployError(f"stack {self.stack_name}: change set {name} failed: {reason}")
        return _ChangeSet(
            change_set_id, change_set_type, created["StackId"], self._changes(change_set_id)
        )

    def _parameter_list(
        self, template: Mapping[str, Any], given: dict[str, str], previous: set[str]
    ) -> list[dict[str, Any]]:
        """The given values; on an update, the stack's previous value for every other one
        (CloudFormation would otherwise fall back to the defaults); else the defaults."""
        declared = template.get("Parameters", {})
        keep = {name for name in previous if name in declared and name not in given}
        parameter_values(template, {**given, **dict.fromkeys(keep, "previous")})

        listed: list[dict[str, Any]] = [
            {"ParameterKey": name, "ParameterValue": value} for name, value in sorted(given.items())
        ]
        listed += [{"ParameterKey": name, "UsePreviousValue": True} for name in sorted(keep)]
        return listed

    def _check_updatable(self, stack: Mapping[str, Any]) -> None:
        status = stack["StackStatus"]
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(
                f"stack {self.stack_name} is ROLLBACK_COMPLETE (its creation failed) and cannot "
                f"be updated; delete it first: python -m deploy down --stack {self.stack_name}"
            )
        if status.endswith(BUSY_SUFFIX):
            raise DeployError(f"stack {self.stack_name} is busy ({status}); try again later")

    def _wait_for_change_set(self, change_set_id: str, name: str) -> dict[str, Any]:
        """The change set once CREATE_COMPLETE or FAILED (a FAILED one is returned: "no
        changes" is a failure CloudFormation reports that way)."""
        waiter = self.cfn.get_waiter("change_set_create_complete")
        with self.report.waiting("waiting for the change set"):
            try:
                waiter.wait(
                    ChangeSetName=change_set_id,
                    WaiterConfig=self._waiter_config(CHANGE_SET_TIMEOUT_SECONDS),
                )
            except WaiterError as exc:
                if exc.last_response.get("Status") != "FAILED":
                    raise DeployError(
                        f"stack {self.stack_name}: change set {name} did not complete: {exc}"
                    ) from exc
                return exc.last_response
        return self.cfn.describe_change_set(ChangeSetName=change_set_id)

    def _changes(self, change_set_id: str) -> list[Change]:
        pages = self.cfn.get_paginator("describe_change_set").paginate(ChangeSetName=change_set_id)
        return [
            Change(
                action=rc.get("Action", ""),
                logical_id=rc.get("LogicalResourceId", ""),
                resource_type=rc.get("ResourceType", ""),
                replacement=rc.get("Replacement", ""),
            )
            for page in pages
            for rc in (item.get("ResourceChange", {}) for item in page.get("Changes", []))
        ]

    def _discard(self, change_set_id: str, change_set_type: str) -> None:
        """Delete an unexecuted change set, and the empty stack a CREATE change set made."""
        self.cfn.delete_change_set(ChangeSetName=change_set_id)
        if change_set_type == "CREATE":
            stack = self._describe()
            if stack is not None and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                self.cfn.delete_stack(StackName=stack["StackId"])

    # ------------------------------------------------------------------ down
    def destroy(self, timeout_seconds: float, delete_retained: bool) -> bool:
        stack = self._describe()
        if stack is None:
            self.report.info(f"stack {self.stack_name} does not exist; nothing to delete")
            if delete_retained:
                kept = retained_resources(load_template(), self.stack_name, {}, self.clients)
                self._settle_retained(kept, delete_retained)
            return False
        parameters = {
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
        }
        deployed = self.cfn.get_template(StackName=self.stack_name)["TemplateBody"]
        kept = retained_resources(
            load_template(deployed), self.stack_name, parameters, self.clients
        )
        s3 = self.clients("s3")
        self.report.step(f"Emptying the buckets of {self.stack_name}")
        for bucket in self._physical_ids("AWS::S3::Bucket"):
            removed = empty_bucket(s3, bucket)
            self.report.info(f"{bucket}: {removed} object versions deleted")
        self.report.step(f"Deleting {self.stack_name}")
        stack_id = stack["StackId"]
        marker = self._newest_event_id(stack_id)
        try:
            self.cfn.delete_stack(StackName=stack_id)
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            raise self._operation_error("DELETE_FAILED", marker, stack_id, str(exc)) from exc
        self._wait("DELETE", marker, timeout_seconds, stack_id, {"DELETE_COMPLETE"})
        bucket = parameters.get("ArtifactsBucket")
        if bucket:
            removed = empty_bucket(s3, bucket, prefix=f"{self.stack_name}/")
            self.report.info(f"s3://{bucket}/{self.stack_name}/: {removed} artifacts deleted")
        self.report.info(f"stack {self.stack_name} deleted")
        self._settle_retained(kept, delete_retained)
        return True

    def _settle_retained(self, kept: list[Retained], delete: bool) -> None:
        """Delete what the stack retained, or say what was kept and how to remove it."""
        present = [resource for resource in kept if resource.exists(self.clients)]
        if delete:
            for resource in present:
                resource.delete(self.clients)
                self.report.info(f"deleted {resource} (kept by DeletionPolicy Retain)")
        elif present:
            self.report.info(
                f"kept (DeletionPolicy Retain, the scores and logs): {', '.join(map(str, present))}"
                f"; {removal_hint(self.stack_name)}"
            )

    # ------------------------------------------------------------------ shared
    def _describe(self, stack_id: str | None = None) -> dict[str, Any] | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=stack_id or self.stack_name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc) or error_code(exc) == "ValidationError":
                return None
            raise
        return stacks[0] if stacks else None

    def _physical_ids(self, resource_type: str) -> list[str]:
        paginator = self.cfn.get_paginator("list_stack_resources")
        return [
            summary["PhysicalResourceId"]
            for page in paginator.paginate(StackName=self.stack_name)
            for summary in page["StackResourceSummaries"]
            if summary.get("ResourceType") == resource_type and summary.get("PhysicalResourceId")
        ]

    def _events(self, marker: str | None, stack_id: str) -> list[dict[str, Any]]:
        """The stack's events newer than ``marker``, oldest first (the API pages newest first)."""
        newer: list[dict[str, Any]] = []
        pages = self.cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id)
        try:
            for page in pages:
                for event in page["StackEvents"]:
                    if event["EventId"] == marker:
                        return list(reversed(newer))
                    newer.append(event)
        except ClientError:
            pass
        return list(reversed(newer))

    def _newest_event_id(self, stack_id: str) -> str | None:
        try:
            events = self.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        except ClientError:
            return None
        return events[0]["EventId"] if events else None

    def _wait(
        self,
        operation: str,
        marker: str | None,
        timeout_seconds: float,
        stack_id: str,
        success: set[str],
    ) -> None:
        """Wait with boto3's waiter for ``operation`` (CREATE, UPDATE, DELETE) while showing the
        events; raise with the failing resources unless the stack settled in ``success``. The
        stack id still answers after a delete, the name does not."""
        waiter = self.cfn.get_waiter(WAITERS[operation])
        detail = ""
        with (
            self.report.waiting(f"waiting for {self.stack_name}"),
            _EventTail(self, stack_id, marker),
        ):
            try:
                waiter.wait(StackName=stack_id, WaiterConfig=self._waiter_config(timeout_seconds))
            except WaiterError as exc:
                if "Max attempts exceeded" in str(exc):
                    detail = (
                        f"still {_stack_status(exc.last_response)} after {timeout_seconds:.0f} s"
                    )
                elif "terminal failure state" not in str(exc):
                    detail = str(exc)  # an error answer, not a stack status: say it
        stack = self._describe(stack_id)
        status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
        if detail or status not in success:
            raise self._operation_error(status, marker, stack_id, detail)
        self.report.info(f"{self.stack_name}: {status}")

    def _waiter_config(self, timeout_seconds: float) -> dict[str, float]:
        """A check every ``poll_seconds`` (the twin is done at once, AWS takes minutes) until
        the timeout."""
        return {
            "Delay": self.poll_seconds,
            "MaxAttempts": max(1, math.ceil(timeout_seconds / self.poll_seconds)),
        }

    def _operation_error(
        self, status: str, marker: str | None, stack_id: str, detail: str = ""
    ) -> StackOperationError:
        failures = failures_from_events(self._events(marker, stack_id), self.stack_name)
        return StackOperationError(self.stack_name, status, failures, detail)

    def _show_outputs(self, template_path: Path) -> dict[str, str]:
        """The stack's outputs; every unconditional output the template declares must be there."""
        outputs = stack_outputs(self.cfn, self.stack_name)
        declared = load_template(template_path).get("Outputs", {})
        missing = sorted(
            key for key, spec in declared.items() if "Condition" not in spec and key not in outputs
        )
        if missing:
            raise MissingOutputsError(self.stack_name, missing)
        self.report.outputs(outputs)
        return outputs


class _EventTail:
    """Shows a stack's new events from a thread while the caller waits, and the last ones
    when the wait ends, in order."""

    def __init__(self, deployment: _Deployment, stack_id: str, marker: str | None) -> None:
        self.deployment, self.stack_id, self.seen = deployment, stack_id, marker
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="stack-events", daemon=True)

    def __enter__(self) -> _EventTail:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._show()

    def _run(self) -> None:
        while not self.stop.wait(self.deployment.poll_seconds):
            self._show()

    def _show(self) -> None:
        for event in self.deployment._events(self.seen, self.stack_id):
            self.deployment.report.event(event)
            self.seen = event["EventId"]


def _stack_status(response: Mapping[str, Any]) -> str:
    stacks = response.get("Stacks") or [{}]
    return str(stacks[0].get("StackStatus", "unknown"))


def _check_parameters(template_path: Path, given: Mapping[str, str]) -> None:
    """Refuse, before anything is packaged, values the template's constraints refuse."""
    problems = parameter_problems(load_template(template_path), given)
    if problems:
        raise InvalidParameterError("; ".join(problems))


def failures_from_events(events: list[dict[str, Any]], stack_name: str) -> list[ResourceFailure]:
    """The resources that failed, root causes first; "cancelled" ones only if nothing else."""
    failed = [
        ResourceFailure(
            logical_id=e.get("LogicalResourceId", ""),
            resource_type=e.get("ResourceType", ""),
            status=e.get("ResourceStatus", ""),
            reason=e.get("ResourceStatusReason", "") or "",
        )
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("_FAILED")
        and e.get("LogicalResourceId") != stack_name
    ]
    causes = [f for f in failed if CANCELLED not in f.reason]
    return causes or failed


def empty_bucket(s3: BaseClient, bucket: str, prefix: str = "") -> int:
    """Delete every object version and delete marker (under ``prefix``); returns how many."""
    removed = 0
    paginator = s3.get_paginator("list_object_versions")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(doomed), 1000):
                batch = doomed[start : start + 1000]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                removed += len(batch)
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            return removed
        raise
    return removed
