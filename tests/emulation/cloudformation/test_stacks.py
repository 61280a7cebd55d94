"""moto's CloudFormation engine gaps that no API reaches, each pinned, and the twin's fix.

The ``test_moto_*`` tests run with the twin's CloudFormationPart uninstalled and assert moto
5.2.5's raw behaviour: when one fails after a moto upgrade, the gap has closed or moved, and the
matching fix in emulation/cloudformation/stacks.py should go. The ``test_fixed_*`` tests run
with the part installed.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from moto.cloudformation import parsing

from deploy.template import TEMPLATE_PATH, load_template
from emulation.cloudformation.stacks import CloudFormationPart, references
from emulation.core.twin import Twin

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")

TEMPLATE = load_template()


@pytest.fixture
def artifacts(twin: Twin) -> None:
    """The bucket and Lambda zip the template's functions are created from."""
    s3 = twin.client("s3")
    s3.create_bucket(Bucket="raw-artifacts")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("pipeline/__init__.py", "")
    s3.put_object(Bucket="raw-artifacts", Key="raw/lambda/x.zip", Body=code.getvalue())


@pytest.fixture
def raw_cloudformation(twin: Twin) -> Iterator[None]:
    """moto's CloudFormation without the twin's part, for the duration of one test."""
    part = twin.part(CloudFormationPart)
    part.uninstall()
    try:
        yield
    finally:
        part.install()


def change_set_create(twin: Twin, stack: str, body: str) -> str:
    cfn = twin.client("cloudformation")
    created = cfn.create_change_set(
        StackName=stack, ChangeSetName="c1", ChangeSetType="CREATE", TemplateBody=body
    )
    return created["Id"]


OUTPUT_ONLY = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  QueueUrl:
    Value: !Ref Queue
"""
# A function whose code bucket does not exist (its role is fine: Lambda may assume it).
BROKEN = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: x.handler
      Role: !GetAtt Role.Arn
      Code: {S3Bucket: no-such-bucket, S3Key: code.zip}
"""


def test_moto_gives_change_set_stacks_no_outputs(twin: Twin, raw_cloudformation: None) -> None:
    cfn = twin.client("cloudformation")
    cfn.execute_change_set(ChangeSetName=change_set_create(twin, "outs-raw", OUTPUT_ONLY))
    stack = cfn.describe_stacks(StackName="outs-raw")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "Outputs" not in stack


def test_fixed_change_set_stacks_report_outputs(twin: Twin) -> None:
    cfn = twin.client("cloudformation")
    cfn.execute_change_set(ChangeSetName=change_set_create(twin, "outs", OUTPUT_ONLY))
    (output,) = cfn.describe_stacks(StackName="outs")["Stacks"][0]["Outputs"]
    assert output["OutputKey"] == "QueueUrl"
    assert output["OutputValue"].endswith("/outs-Queue-" + output["OutputValue"].split("-")[-1])


def test_moto_reports_a_failed_resource_as_an_unparseable_http_error(
    twin: Twin, raw_cloudformation: None
) -> None:
    cfn = twin.client("cloudformation")
    change_set = change_set_create(twin, "broken-raw", BROKEN)
    with pytest.raises(ResponseParserError, match="NoSuchBucket"):
        cfn.execute_change_set(ChangeSetName=change_set)
    events = cfn.describe_stack_events(StackName="broken-raw")["StackEvents"]
    assert [e["ResourceStatus"] for e in events] == ["CREATE_IN_PROGRESS", "REVIEW_IN_PROGRESS"]
    assert {e["LogicalResourceId"] for e in events} == {"broken-raw"}  # none names "Fn"
    stack = cfn.describe_stacks(StackName="broken-raw")["Stacks"][0]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"  # neither failed nor complete


def test_fixed_failure_fails_the_stack_with_a_resource_event(twin: Twin) -> None:
    cfn = twin.client("cloudformation")
    cfn.execute_change_set(ChangeSetName=change_set_create(twin, "broken", BROKEN))
    stack = cfn.describe_stacks(StackName="broken")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_FAILED"
    events = cfn.describe_stack_events(StackName="broken")["StackEvents"]
    (failed,) = [e for e in events if e["LogicalResourceId"] == "Fn"]
    assert failed["ResourceStatus"] == "CREATE_FAILED"
    assert failed["ResourceType"] == "AWS::Lambda::Function"
    assert "NoSuchBucket" in failed["ResourceStatusReason"]
    cfn.delete_stack(StackName="broken")  # a failed stack can still be deleted
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == (
        "DELETE_COMPLETE"
    )


def deleted_order(twin: Twin, stack: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Create the stack, delete it, and return the logical ids in the order moto deleted them."""
    order: list[str] = []
    original = parsing.ResourceMap._delete_resource

    def record(resource_map: Any, parsed: Any, spec: dict[str, Any]) -> None:
        original(resource_map, parsed, spec)
        order.append(parsed.logical_resource_id)

    cfn = twin.client("cloudformation")
    cfn.create_stack(
        StackName=stack,
        TemplateBody=TEMPLATE_PATH.read_text(),
        Parameters=[
            {"ParameterKey": "ArtifactsBucket", "ParameterValue": "raw-artifacts"},
            {"ParameterKey": "ArtifactsPrefix", "ParameterValue": "raw/abc"},
            {"ParameterKey": "LambdaCodeKey", "ParameterValue": "raw/lambda/x.zip"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    monkeypatch.setattr(parsing.ResourceMap, "_delete_resource", record)
    # moto may give up half way (an error): the order so far is what matters.
    with contextlib.suppress(ClientError, ResponseParserError):
        cfn.delete_stack(StackName=stack)
    return order


def dependency_violations(order: list[str]) -> list[tuple[str, str]]:
    """(resource, dependency) pairs where the dependency was deleted first."""
    resources = TEMPLATE["Resources"]
    position = {logical_id: i for i, logical_id in enumerate(order)}
    return [
        (logical_id, dependency)
        for logical_id in order
        for dependency in references(resources[logical_id], set(resources))
        | set(as_list(resources[logical_id].get("DependsOn", [])))
        if dependency in position and position[dependency] < position[logical_id]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_moto_deletes_resources_ignoring_their_dependencies(
    twin: Twin, artifacts: None, raw_cloudformation: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto walks a set: with this template's ~20 dependency edges, a hash order that happens
    # to respect every one of them is vanishingly unlikely.
    order = deleted_order(twin, "del-raw", monkeypatch)
    assert dependency_violations(order)


def test_fixed_delete_removes_dependents_first(
    twin: Twin, artifacts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = deleted_order(twin, "del", monkeypatch)
    assert dependency_violations(order) == []
    assert {"IngestScoresInvokeConfig", "IngestFunction", "ResultsBucket"} <= set(order)
    assert order.index("IngestScoresInvokeConfig") < order.index("IngestFunction")
    assert order.index("ResultsBucket") < order.index("IngestFunction")
    status = twin.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in status if s["StackName"] == "del"] == ["DELETE_COMPLETE"]
