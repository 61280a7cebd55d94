"""What a deleted stack leaves behind on purpose: resources with ``DeletionPolicy: Retain``.

The scores table and the Lambda log groups are the product, so they outlive ``down``. Their
names come from the stack name, so they also block a new stack of the same name: CloudFormation
would fail on "already exists" after minutes. This module names them, says how to remove them,
removes them on request (``down --delete-retained``), and lets ``up`` refuse such a create at
once, before anything is uploaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from deploy.errors import DeployError
from deploy.template import Resolver
from pipeline.errors import error_code

if TYPE_CHECKING:
    from pipeline.aws import Clients

# The types this stack retains, with the property naming each.
NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Logs::LogGroup": "LogGroupName",
}


class RetainedResourceError(DeployError):
    """A resource kept from an earlier stack of the same name stands in the way."""


@dataclass(frozen=True)
class Retained:
    """One resource the template keeps on stack deletion."""

    logical_id: str
    resource_type: str
    name: str

    def __str__(self) -> str:
        kind = "DynamoDB table" if self.resource_type == "AWS::DynamoDB::Table" else "log group"
        return f"{kind} {self.name}"

    def exists(self, clients: Clients) -> bool:
        if self.resource_type == "AWS::DynamoDB::Table":
            try:
                clients("dynamodb").describe_table(TableName=self.name)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return False
                raise
            return True
        groups = clients("logs").describe_log_groups(logGroupNamePrefix=self.name)["logGroups"]
        return any(group["logGroupName"] == self.name for group in groups)

    def delete(self, clients: Clients) -> bool:
        """Delete it; False when it was already gone."""
        try:
            if self.resource_type == "AWS::DynamoDB::Table":
                clients("dynamodb").delete_table(TableName=self.name)
            else:
                clients("logs").delete_log_group(logGroupName=self.name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True


def retained_resources(
    template: Mapping[str, Any], stack_name: str, parameters: Mapping[str, str], clients: Clients
) -> list[Retained]:
    """The template's resources with DeletionPolicy Retain, named as a stack ``stack_name``
    names them."""
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": clients.region,
        "AWS::AccountId": clients.account_id,
        "AWS::Partition": clients.partition,
        "AWS::URLSuffix": "amazonaws.com",
    }
    declared = template.get("Parameters", {})
    # Names never depend on the artifact parameters: placeholders satisfy the resolver.
    values = {name: "-" for name in declared if "Default" not in declared[name]}
    values.update({k: v for k, v in parameters.items() if k in declared})

    def no_lookup(*names: str) -> str:
        raise DeployError(f"a retained resource's name refers to {'.'.join(names)}")

    resolver = Resolver(template, values, pseudo, no_lookup, no_lookup)
    kept = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("DeletionPolicy") != "Retain":
            continue
        prop = NAME_PROPERTIES.get(resource["Type"])
        if prop is None:
            raise DeployError(f"{logical_id}: retaining {resource['Type']} is not supported")
        where = f"Resources.{logical_id}.Properties.{prop}"
        name = str(resolver.value(resource["Properties"][prop], where))
        kept.append(Retained(logical_id, resource["Type"], name))
    return kept


def removal_hint(stack_name: str) -> str:
    return (
        f"`python -m deploy down --stack {stack_name} --delete-retained` "
        f"(or `make destroy STACK={stack_name} DELETE_RETAINED=1`) deletes them, with their data"
    )


def refuse_leftovers(kept: list[Retained], stack_name: str, clients: Clients) -> None:
    """Before creating stack ``stack_name``: fail, naming them, if resources kept by an earlier
    stack of that name still exist (CloudFormation would fail on them much later)."""
    leftovers = [resource for resource in kept if resource.exists(clients)]
    if leftovers:
        raise RetainedResourceError(
            f"stack {stack_name}: {', '.join(map(str, leftovers))} already exist(s), kept when "
            f"an earlier stack {stack_name} was deleted. Choose another stack name, or "
            + removal_hint(stack_name)
        )
