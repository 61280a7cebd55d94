"""Repairs, through the AWS APIs, of what an emulator's CloudFormation skips (moto 5.2.5).

The twin deploys ``deploy/template.yaml`` through the same change-set code as AWS. moto reaches
CREATE_COMPLETE but silently skips or mis-wires parts of it. Each gap below was measured with a
plain create_stack, and each has a test in tests/deploy/test_repairs.py that asserts moto's
raw behaviour, so a moto upgrade that closes a gap fails that test and says which repair to drop.
These are API calls a deploy can make against any endpoint, so they live with the deploy path.

Repaired through the normal AWS APIs, after a deploy, by ``repair_stack`` (each repair first
reads the actual state and acts only where it differs from the template, so on AWS it does
nothing):

==========================================  ================================================
gap (moto 5.2.5)                            repair
==========================================  ================================================
S3 bucket: PublicAccessBlockConfiguration,  put_public_access_block, put_bucket_versioning,
VersioningConfiguration, LifecycleConfig-   put_bucket_lifecycle_configuration,
uration, OwnershipControls and Notifica-    put_bucket_ownership_controls,
tionConfiguration ignored                   put_bucket_notification_configuration
DynamoDB: PointInTimeRecoverySpecification  update_continuous_backups
ignored
AWS::SNS::Subscription creates nothing      subscribe
IAM role inline policies stored as Python   put_role_policy with the JSON document
repr, not JSON (get_role_policy returns a
string no JSON parser reads)
SageMaker lifecycle config and notebook     create them under the declared names (moto has
instance created under generated names;     no Update API: a changed one is deleted and
LifecycleConfigName, RootAccess ignored     created again), with the lifecycle config
(so the config is not attached). The        attached, and wait as CloudFormation waits: until
twin's engine creates them as declared      the instance is InService after its OnCreate and
(emulation/sagemaker/cloudformation.py);    OnStart hooks (RepairError if it Failed, with
LocalStack's skips them                     its FailureReason). What OnStart started goes on,
                                            as after a deploy on AWS: the creation run. Stop
                                            an instance created under a generated name
==========================================  ================================================

The repairs take their clients per service, so SageMaker may live elsewhere than the stack:
with TWIN=localstack the stack is LocalStack's, whose Community edition skips SageMaker
resources (it lists them with no real physical id), and ``repair_stack`` creates them in the
twin from a mapping such as ``{"sagemaker": <twin client>, <other services>: <LocalStack>}``.
``declared_outputs`` evaluates the template's Outputs, for an engine that drops some.

``AWS::Lambda::EventInvokeConfig`` also creates nothing in moto; the twin's Lambda runtime adds
a CloudFormation model for it (emulation/awslambda/event_invoke_config.py), so no repair is
needed here.

Not repaired: ``AWS::S3::BucketPolicy`` also creates nothing, but moto evaluates bucket-policy
conditions wrongly (a Deny statement with any Condition denies every object request), so the
template's TLS-only policy would lock the twin out of its own buckets. The template is checked
statically instead (tests/deploy/test_template_static.py).

Three gaps sit inside moto's CloudFormation engine, where no API reaches: the twin's part
``emulation.cloudformation.stacks.CloudFormationPart`` fixes those in-process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from deploy.errors import DeployError, TemplateError
from deploy.template import ARNS, Resolver, load_template
from pipeline.aws import Clients, ClientSource
from pipeline.errors import error_code

if TYPE_CHECKING:
    from botocore.client import BaseClient

UNREPAIRED = {
    "AWS::S3::BucketPolicy": (
        "moto denies every object request under a bucket policy whose Deny has a Condition, "
        "so the TLS-only policy would lock the twin out of its buckets"
    ),
}


@dataclass(frozen=True)
class Repair:
    """One change the twin made so a resource is as the template declares it."""

    logical_id: str
    resource_type: str
    action: str

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.resource_type}): {self.action}"


class RepairError(DeployError):
    """The stack cannot be repaired (for example: a resource the repair needs is missing)."""


def repair_stack(
    twin_or_clients: ClientSource | Mapping[str, BaseClient] | Clients,
    stack_name: str,
    template: str | Mapping[str, Any] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> list[Repair]:
    """Bring every resource moto skipped or mis-wired to what the template declares.

    ``template`` and ``parameters`` default to the deployed stack's own. Returns the repairs
    made, in order; an empty list means the stack was already as declared.
    """
    context = _Context(Clients(twin_or_clients), stack_name, template, parameters)
    repairs: list[Repair] = []
    for resource_type, repairer in _REPAIRERS.items():
        for logical_id in context.enabled(resource_type):
            actions = repairer(context, logical_id, context.resolver.properties(logical_id))
            repairs += [Repair(logical_id, resource_type, action) for action in actions]
    return repairs


def remove_repairs(
    twin_or_clients: ClientSource | Mapping[str, BaseClient] | Clients,
    stack_name: str,
    template: str | Mapping[str, Any] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> list[Repair]:
    """Delete what the repairs created outside the stack (call before deleting the stack).

    Only the SageMaker resources made under declared names need it: the stack does not know
    them. Bucket settings go with their buckets, subscriptions with their topic.
    """
    context = _Context(Clients(twin_or_clients), stack_name, template, parameters)
    sagemaker = context.clients("sagemaker")
    removed: list[Repair] = []
    for logical_id in context.enabled("AWS::SageMaker::NotebookInstance"):
        name = context.declared_name(logical_id, "NotebookInstanceName")
        if name != context.created_name(logical_id) and _describe_instance(sagemaker, name):
            _stop_instance(sagemaker, name)
            sagemaker.delete_notebook_instance(NotebookInstanceName=name)
            removed.append(
                Repair(logical_id, "AWS::SageMaker::NotebookInstance", f"deleted {name}")
            )
    for logical_id in context.enabled("AWS::SageMaker::NotebookInstanceLifecycleConfig"):
        name = context.declared_name(logical_id, "NotebookInstanceLifecycleConfigName")
        if name != context.created_name(logical_id) and _describe_config(sagemaker, name):
            sagemaker.delete_notebook_instance_lifecycle_config(
                NotebookInstanceLifecycleConfigName=name
            )
            removed.append(
                Repair(
                    logical_id, "AWS::SageMaker::NotebookInstanceLifecycleConfig", f"deleted {name}"
                )
            )
    return removed


def declared_outputs(
    twin_or_clients: ClientSource | Mapping[str, BaseClient] | Clients,
    stack_name: str,
    template: str | Mapping[str, Any] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The template's Outputs evaluated against the deployed stack (conditions honoured): what
    the stack should report, for an emulator that reports fewer."""
    context = _Context(Clients(twin_or_clients), stack_name, template, parameters)
    outputs = {}
    for key, spec in context.template.get("Outputs", {}).items():
        condition = spec.get("Condition")
        if condition is None or context.resolver.condition(condition):
            outputs[key] = str(context.resolver.value(spec["Value"], f"Outputs.{key}.Value"))
    return outputs


class _Context:
    """The deployed stack, its template evaluated, and the clients to repair it with."""

    def __init__(
        self,
        clients: Clients,
        stack_name: str,
        template: str | Mapping[str, Any] | None,
        parameters: Mapping[str, str] | None,
    ) -> None:
        self.clients = clients
        cfn = clients("cloudformation")
        try:
            stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except ClientError as exc:
            raise RepairError(f"stack {stack_name}: cannot repair: {exc}") from exc
        if template is None:
            template = cfn.get_template(StackName=stack_name)["TemplateBody"]
        if parameters is None:
            parameters = {
                p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
            }
        self.template = load_template(template)
        paginator = cfn.get_paginator("list_stack_resources")
        self.physical = {
            summary["LogicalResourceId"]: summary.get("PhysicalResourceId", "")
            for page in paginator.paginate(StackName=stack_name)
            for summary in page["StackResourceSummaries"]
            if summary.get("LogicalResourceId")
        }
        pseudo = {
            "AWS::StackName": stack_name,
            "AWS::StackId": stack["StackId"],
            "AWS::Region": clients.region,
            "AWS::AccountId": clients.account_id,
            "AWS::Partition": clients.partition,
            "AWS::URLSuffix": "amazonaws.com",
        }
        declared = self.template.get("Parameters", {})
        known = {key: value for key, value in parameters.items() if key in declared}
        self.resolver = Resolver(self.template, known, pseudo, self.physical_id, self._getatt)

    def enabled(self, resource_type: str) -> list[str]:
        return [
            logical_id
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type and self.resolver.resource_enabled(logical_id)
        ]

    def physical_name(self, logical_id: str) -> str:
        """The name the stack's engine gave the resource: the end of its physical id. A
        SageMaker physical id is an ARN, whose name SageMaker lowercases: when no resource has
        that lowercased name, the name is looked up by ARN."""
        physical = self.physical_id(logical_id)
        name = physical.rsplit("/", 1)[-1]
        resource_type = self.template["Resources"][logical_id]["Type"]
        if not physical.startswith("arn:") or resource_type not in _SAGEMAKER_LISTINGS:
            return name
        operation, key, arn_key, name_key, describe = _SAGEMAKER_LISTINGS[resource_type]
        sagemaker = self.clients("sagemaker")
        if describe(sagemaker, name) is not None:
            return name
        try:
            for page in sagemaker.get_paginator(operation).paginate():
                for summary in page[key]:
                    if summary[arn_key].lower() == physical.lower():
                        return str(summary[name_key])
        except ClientError:  # an endpoint without the listing: the name as the ARN has it
            pass
        return name

    def created_name(self, logical_id: str) -> str | None:
        """The name the stack's engine gave the resource; None when it created none (LocalStack
        Community lists SageMaker resources without a physical id, or not at all)."""
        return self.physical_name(logical_id) if self.physical.get(logical_id) else None

    def declared_name(self, logical_id: str, name_property: str) -> str:
        properties = self.template["Resources"][logical_id].get("Properties", {})
        if name_property not in properties:
            return self.physical_name(logical_id)
        where = f"Resources.{logical_id}.Properties.{name_property}"
        return str(self.resolver.value(properties[name_property], where))

    def physical_id(self, logical_id: str) -> str:
        physical = self.physical.get(logical_id)
        if not physical:
            raise RepairError(f"{logical_id}: not in the stack's resources; cannot repair it")
        return physical

    def _getatt(self, logical_id: str, attribute: str) -> str:
        resource_type = self.template["Resources"][logical_id]["Type"]
        if attribute == "NotebookInstanceName":
            return self.declared_name(logical_id, "NotebookInstanceName")
        if attribute == "NotebookInstanceLifecycleConfigName":
            return self.declared_name(logical_id, "NotebookInstanceLifecycleConfigName")
        if attribute == "Arn" and resource_type == "AWS::IAM::Role":
            role = self.clients("iam").get_role(RoleName=self.physical_id(logical_id))
            return role["Role"]["Arn"]
        if attribute != "Arn" or resource_type not in ARNS:
            raise TemplateError(f"{logical_id}.{attribute}: GetAtt not supported by the repairs")
        c, physical = self.clients, self.physical_id(logical_id)
        return ARNS[resource_type](c.partition, c.region, c.account_id, physical)


# ---------------------------------------------------------------------------- IAM
def _repair_role(context: _Context, logical_id: str, props: dict[str, Any]) -> list[str]:
    iam = context.clients("iam")
    role_name = context.physical_id(logical_id)
    actions = []
    for policy in props.get("Policies", []):
        try:
            stored = iam.get_role_policy(RoleName=role_name, PolicyName=policy["PolicyName"])
            document = stored["PolicyDocument"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            document = None
        if document != policy["PolicyDocument"]:
            iam.put_role_policy(
                RoleName=role_name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
            actions.append(f"put inline policy {policy['PolicyName']} as JSON")
    return actions


# ---------------------------------------------------------------------------- S3
def _repair_bucket(context: _Context, logical_id: str, props: dict[str, Any]) -> list[str]:
    s3 = context.clients("s3")
    bucket = context.physical_id(logical_id)
    actions = []
    block = props.get("PublicAccessBlockConfiguration")
    if (
        block is not None
        and _get(s3.get_public_access_block, bucket, "PublicAccessBlockConfiguration") != block
    ):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
        actions.append("put public access block")
    versioning = props.get("VersioningConfiguration")
    if (
        versioning is not None
        and s3.get_bucket_versioning(Bucket=bucket).get("Status") != versioning["Status"]
    ):
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": versioning["Status"]}
        )
        actions.append(f"put versioning {versioning['Status']}")
    ownership = props.get("OwnershipControls")
    if (
        ownership is not None
        and _get(s3.get_bucket_ownership_controls, bucket, "OwnershipControls") != ownership
    ):
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership)
        actions.append("put ownership controls")
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle is not None:
        rules = [_lifecycle_rule(rule, logical_id) for rule in lifecycle["Rules"]]
        if _get(s3.get_bucket_lifecycle_configuration, bucket, "Rules") != rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": rules}
            )
            actions.append("put lifecycle configuration")
    notification = props.get("NotificationConfiguration")
    if notification is not None:
        wanted = _notification(notification, logical_id)
        stored = s3.get_bucket_notification_configuration(Bucket=bucket)
        if _lambda_targets(stored) != _lambda_targets(wanted):
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=wanted
            )
            actions.append("put notification configuration")
    return actions


def _get(read: Callable[..., dict[str, Any]], bucket: str, key: str) -> Any:
    """A bucket sub-resource, or None when the bucket has none (S3 answers with an error)."""
    try:
        return read(Bucket=bucket).get(key)
    except ClientError as exc:
        if error_code(exc) in {"NoSuchBucket", "AccessDenied"}:
            raise
        return None


def _lifecycle_rule(rule: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """CloudFormation's lifecycle rule in the S3 API's shape (the subset the template uses)."""
    supported = {
        "Id",
        "Status",
        "Prefix",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
        "ExpirationInDays",
    }
    unknown = set(rule) - supported
    if unknown:
        raise TemplateError(f"{logical_id}: lifecycle rule keys {sorted(unknown)} not supported")
    converted: dict[str, Any] = {
        "ID": rule["Id"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
        "Status": rule["Status"],
    }
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        days = int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return converted


def _notification(config: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the S3 API's shape (Lambda targets)."""
    unknown = set(config) - {"LambdaConfigurations"}
    if unknown:
        raise TemplateError(f"{logical_id}: notification keys {sorted(unknown)} not supported")
    return {
        "LambdaFunctionConfigurations": [
            {
                "LambdaFunctionArn": item["Function"],
                "Events": [item["Event"]],
                **(
                    {"Filter": {"Key": {"FilterRules": item["Filter"]["S3Key"]["Rules"]}}}
                    if "Filter" in item
                    else {}
                ),
            }
            for item in config.get("LambdaConfigurations", [])
        ]
    }


def _lambda_targets(config: Mapping[str, Any]) -> set[tuple[str, tuple[str, ...], tuple[Any, ...]]]:
    return {
        (
            item["LambdaFunctionArn"],
            tuple(sorted(item["Events"])),
            tuple(
                sorted(
                    (rule["Name"].lower(), rule["Value"])
                    for rule in item.get("Filter", {}).get("Key", {}).get("FilterRules", [])
                )
            ),
        )
        for item in config.get("LambdaFunctionConfigurations", [])
    }


# ---------------------------------------------------------------------------- DynamoDB
def _repair_table(context: _Context, logical_id: str, props: dict[str, Any]) -> list[str]:
    pitr = props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
    if pitr is None:
        return []
    dynamodb = context.clients("dynamodb")
    table = context.physical_id(logical_id)
    described = dynamodb.describe_continuous_backups(TableName=table)[
        "ContinuousBackupsDescription"
    ]
    status = described.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    if (status == "ENABLED") == bool(pitr):
        return []
    dynamodb.update_continuous_backups(
        TableName=table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": bool(pitr)},
    )
    return [f"{'enabled' if pitr else 'disabled'} point-in-time recovery"]


# ---------------------------------------------------------------------------- SNS
def _repair_subscription(context: _Context, logical_id: str, props: dict[str, Any]) -> list[str]:
    sns = context.clients("sns")
    topic, protocol, endpoint = props["TopicArn"], props["Protocol"], props["Endpoint"]
    paginator = sns.get_paginator("list_subscriptions_by_topic")
    for page in paginator.paginate(TopicArn=topic):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] == protocol and sub["Endpoint"] == endpoint:
                return []
    sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint, ReturnSubscriptionArn=True)
    return [f"subscribed {protocol}:{endpoint}"]


# ---------------------------------------------------------------------------- SageMaker
# How long CloudFormation's wait for a new instance may take: Pending, then each hook's 5 minutes.
INSTANCE_SETTLE_SECONDS = 900.0
# Where SageMaker writes a lifecycle hook's output (API reference, NotebookInstanceLifecycleHook).
HOOK_LOG_GROUP = "/aws/sagemaker/NotebookInstances"
POLL_SECONDS = 0.05


def _describe_config(sagemaker: BaseClient, name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name
        )
    except ClientError as exc:
        if error_code(exc) != "ValidationException":
            raise
        return None


def _describe_instance(sagemaker: BaseClient, name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_notebook_instance(NotebookInstanceName=name)
    except ClientError as exc:
        if error_code(exc) != "ValidationException":
            raise
        return None


# Resource type -> (listing operation, list key, ARN key, name key, describe by name).
_SAGEMAKER_LISTINGS: dict[str, tuple[str, str, str, str, Callable[..., Any]]] = {
    "AWS::SageMaker::NotebookInstance": (
        "list_notebook_instances",
        "NotebookInstances",
        "NotebookInstanceArn",
        "NotebookInstanceName",
        _describe_instance,
    ),
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": (
        "list_notebook_instance_lifecycle_configs",
        "NotebookInstanceLifecycleConfigs",
        "NotebookInstanceLifecycleConfigArn",
        "NotebookInstanceLifecycleConfigName",
        _describe_config,
    ),
}


def _settle(sagemaker: BaseClient, name: str, timeout: float, moving: set[str]) -> dict[str, Any]:
    """Wait while the instance is in one of the ``moving`` statuses; its description after."""
    deadline = time.monotonic() + timeout
    while True:
        described = _describe_instance(sagemaker, name)
        if described is None or described["NotebookInstanceStatus"] not in moving:
            return described or {}
        if time.monotonic() > deadline:
            raise RepairError(
                f"notebook instance {name}: still {described['NotebookInstanceStatus']} after "
                f"{timeout:.0f} s"
            )
        time.sleep(POLL_SECONDS)


def _stop_instance(
    sagemaker: BaseClient, name: str, timeout: float = INSTANCE_SETTLE_SECONDS
) -> bool:
    """Stop unless already Stopped/Failed, and wait for Stopped. A stop is accepted only from
    InService ("Status (Pending) not in ([InService])"), so a starting instance is waited for.
    True if a stop was requested."""
    described = _settle(sagemaker, name, timeout, {"Pending", "Updating"})
    if not described or described["NotebookInstanceStatus"] in {"Stopped", "Failed"}:
        return False
    if described["NotebookInstanceStatus"] != "Stopping":
        sagemaker.stop_notebook_instance(NotebookInstanceName=name)
    _settle(sagemaker, name, timeout, {"Stopping"})
    return True


def _await_in_service(context: _Context, name: str, timeout: float) -> None:
    """CloudFormation's wait for a new instance: InService, or the create fails with the
    instance's FailureReason (for a failed lifecycle hook, SageMaker's "took longer than 5
    minutes" sentence) and, read where the sentence points, the end of the hooks' log."""
    described = _settle(context.clients("sagemaker"), name, timeout, {"Pending"})
    status = described.get("NotebookInstanceStatus")
    if status != "InService":
        reason = described.get("FailureReason", "no reason given")
        tail = _hook_log_tail(context.clients("logs"), name)
        raise RepairError(
            f"notebook instance {name} is {status} after its creation: {reason}"
            + (f"\nThe end of its lifecycle log:\n{tail}" if tail else "")
        )


def _hook_log_tail(logs: BaseClient, name: str, lines: int = 10) -> str:
    """The last lines the instance's hooks wrote to CloudWatch Logs, if they can be read."""
    found = []
    for hook in ("OnCreate", "OnStart"):
        try:
            events = logs.get_log_events(
                logGroupName=HOOK_LOG_GROUP,
                logStreamName=f"{name}/LifecycleConfig{hook}",
                limit=lines,
                startFromHead=False,
            )["events"]
        except ClientError:
            continue
        found += [f"{hook}: {event['message']}" for event in events]
    return "\n".join(found[-lines:])


def _repair_lifecycle_config(
    context: _Context, logical_id: str, props: dict[str, Any]
) -> list[str]:
    sagemaker = context.clients("sagemaker")
    name = props.get("NotebookInstanceLifecycleConfigName") or context.physical_name(logical_id)
    created = context.created_name(logical_id)
    hooks = {key: props[key] for key in ("OnCreate", "OnStart") if key in props}
    stored = _describe_config(sagemaker, name)
    if stored is not None and all(stored.get(key) == value for key, value in hooks.items()):
        return []
    if stored is not None:
        sagemaker.delete_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name
        )
    sagemaker.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name, **hooks
    )
    verb = "re-created" if stored else "created"
    if created is not None and _describe_config(sagemaker, created) is not None:
        return [f"{verb} lifecycle config {name} (moto named it {created})"]
    return [f"{verb} lifecycle config {name} (the stack's engine created none)"]


# CloudFormation property -> (create_notebook_instance argument, describe_notebook_instance key)
_INSTANCE_PROPERTIES = {
    "InstanceType": ("InstanceType", "InstanceType"),
    "RoleArn": ("RoleArn", "RoleArn"),
    "LifecycleConfigName": ("LifecycleConfigName", "NotebookInstanceLifecycleConfigName"),
    "DirectInternetAccess": ("DirectInternetAccess", "DirectInternetAccess"),
    "RootAccess": ("RootAccess", "RootAccess"),
    "VolumeSizeInGB": ("VolumeSizeInGB", "VolumeSizeInGB"),
    "KmsKeyId": ("KmsKeyId", "KmsKeyId"),
    "SubnetId": ("SubnetId", "SubnetId"),
    "SecurityGroupIds": ("SecurityGroupIds", "SecurityGroups"),
    "PlatformIdentifier": ("PlatformIdentifier", "PlatformIdentifier"),
    "InstanceMetadataServiceConfiguration": (
        "InstanceMetadataServiceConfiguration",
        "InstanceMetadataServiceConfiguration",
    ),
}


def _repair_notebook_instance(
    context: _Context, logical_id: str, props: dict[str, Any]
) -> list[str]:
    sagemaker = context.clients("sagemaker")
    name = props.get("NotebookInstanceName") or context.physical_name(logical_id)
    unknown = set(props) - set(_INSTANCE_PROPERTIES) - {"NotebookInstanceName"}
    if unknown:
        raise TemplateError(
            f"{logical_id}: properties {sorted(unknown)} not supported by the repair"
        )
    wanted = {
        argument: props[prop]
        for prop, (argument, _) in _INSTANCE_PROPERTIES.items()
        if prop in props
    }
    actions = []
    stray = context.created_name(logical_id)
    if stray is not None and stray != name and _stop_instance(sagemaker, stray):
        actions.append(f"stopped {stray}, the instance moto created under a generated name")
    stored = _describe_instance(sagemaker, name)
    # A setting the endpoint does not report (bare moto drops PlatformIdentifier) cannot be
    # compared, and re-creating the instance would not make it reported.
    if stored is not None and all(
        stored.get(key) == props[prop]
        for prop, (_, key) in _INSTANCE_PROPERTIES.items()
        if prop in props and key in stored
    ):
        if stored.get("NotebookInstanceStatus") == "Pending":
            # An engine that created the instance as declared but returned before it was
            # InService (the twin's: moto's change sets run synchronously): CloudFormation's wait.
            _await_in_service(context, name, INSTANCE_SETTLE_SECONDS)
        return actions
    if stored is not None:
        _stop_instance(sagemaker, name)
        sagemaker.delete_notebook_instance(NotebookInstanceName=name)
    sagemaker.create_notebook_instance(NotebookInstanceName=name, **wanted)
    attached = (
        f" with lifecycle config {wanted['LifecycleConfigName']}"
        if "LifecycleConfigName" in wanted
        else ""
    )
    _await_in_service(context, name, INSTANCE_SETTLE_SECONDS)
    verb = "re-created" if stored else "created"
    actions.append(f"{verb} notebook instance {name}{attached}: InService")
    return actions


_REPAIRERS: dict[str, Callable[[_Context, str, dict[str, Any]], list[str]]] = {
    "AWS::IAM::Role": _repair_role,
    "AWS::S3::Bucket": _repair_bucket,
    "AWS::DynamoDB::Table": _repair_table,
    "AWS::SNS::Subscription": _repair_subscription,
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": _repair_lifecycle_config,
    "AWS::SageMaker::NotebookInstance": _repair_notebook_instance,
}
