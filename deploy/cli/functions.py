"""A stack's Lambda functions, named by the template's logical id or by function name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploy.errors import DeployError

if TYPE_CHECKING:
    from botocore.client import BaseClient


def stack_functions(cfn: BaseClient, stack: str) -> dict[str, str]:
    """Logical id -> function name, for every AWS::Lambda::Function of the stack."""
    pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
    return {
        summary["LogicalResourceId"]: summary["PhysicalResourceId"]
        for page in pages
        for summary in page["StackResourceSummaries"]
        if summary.get("ResourceType") == "AWS::Lambda::Function"
        and summary.get("PhysicalResourceId")
    }


def function_name(cfn: BaseClient, stack: str, wanted: str) -> str:
    """The function ``wanted`` names: a logical id of the stack, or one of its function names
    (an ARN is taken as it is); else an error listing the stack's functions."""
    if wanted.startswith("arn:"):
        return wanted
    functions = stack_functions(cfn, stack)
    if wanted in functions:
        return functions[wanted]
    if wanted in functions.values():
        return wanted
    listed = ", ".join(f"{logical} ({name})" for logical, name in sorted(functions.items()))
    raise DeployError(
        f"stack {stack} has no function {wanted!r}; its functions: {listed or 'none'}"
    )
