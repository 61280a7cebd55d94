"""Each Lambda handler, deployed by the template with its own role, fails in the twin with AWS's
AccessDenied when its role lacks a permission it uses: the boundary between the code and its
IAM grant holds locally as it holds on AWS.

The stack is deployed once for the module; each test takes one action out of the role's
inline policy (as an edited template would), invokes the real handler from its zip with the
session credentials Lambda gives it, and puts the policy back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from deploy.repairs import repair_stack
from deploy.stack import deploy_stack
from deploy.template import load_template
from emulation.core.build import build_twin
from emulation.core.inspector import Inspector
from emulation.core.twin import Twin
from emulation.e2e.chain import E2EOptions, twin_config
from emulation.sagemaker.notebook_host import NotebookHost
from pipeline.scores_object import put_scores
from tests.pipeline.test_ingest_scores import ok

STACK = "asr-iam"
RUN_ID = "2026-11-24T20-00-00Z-3fa9c1"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Twin, dict[str, str]]]:
    twin = build_twin(twin_config(E2EOptions(), tmp_path_factory.mktemp("sandbox"))).start()
    try:
        outputs = deploy_stack(twin, STACK, poll_seconds=0.2)
        repair_stack(twin, STACK, template=load_template())
        # Creating the instance ran OnStart (the creation run), which stops it at its end.
        host = twin.part(NotebookHost)
        host.wait_for_status(outputs["NotebookInstanceName"], "Stopped", timeout=240)
        yield twin, outputs
    finally:
        twin.stop()


@contextmanager
def without(twin: Twin, role: str, action: str) -> Iterator[str]:
    """The role's inline policy minus ``action``; yields the role's name."""
    iam = twin.client("iam")
    name = f"{STACK}-{role}"
    [policy_name] = iam.list_role_policies(RoleName=name)["PolicyNames"]
    original = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    edited = json.loads(json.dumps(original))
    for statement in edited["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        statement["Action"] = [a for a in actions if a != action] or ["none:None"]
    iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(edited))
    try:
        yield name
    finally:
        iam.put_role_policy(
            RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(original)
        )


def invoke(twin: Twin, function: str, event: dict[str, Any]) -> dict[str, Any]:
    answer = twin.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))
    assert answer.get("FunctionError") == "Unhandled"
    return json.loads(answer["Payload"].read())


def s3_event(twin: Twin, bucket: str, key: str) -> dict[str, Any]:
    """The notification S3 sends the ingest function for a new scores CSV."""
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "awsRegion": twin.region,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
    }
    return {"Records": [record]}


def denial_sentence(role: str, function: str, action: str, resource: str) -> str:
    return (
        f"User: arn:aws:sts::{Twin().account_id}:assumed-role/{role}/{function} is not "
        f"authorized to perform: {action} on resource: {resource} because no identity-based "
        f"policy allows the {action} action"
    )


def test_start_notebook_without_start_permission_fails_with_awss_message(deployed) -> None:
    twin, outputs = deployed
    function, instance = outputs["StartNotebookFunctionName"], outputs["NotebookInstanceName"]
    with without(twin, "start-notebook", "sagemaker:StartNotebookInstance") as role:
        error = invoke(twin, function, {"detail-type": "Scheduled Event"})
    arn = f"arn:aws:sagemaker:{twin.region}:{twin.account_id}:notebook-instance/{instance}"
    assert error["errorType"] == "ClientError"
    assert error["errorMessage"] == (
        "An error occurred (AccessDeniedException) when calling the StartNotebookInstance "
        f"operation: {denial_sentence(role, function, 'sagemaker:StartNotebookInstance', arn)}"
    )
    assert Inspector(twin).access_denials()[-1].resource == arn


def test_ingest_without_batch_write_fails_with_awss_message(deployed) -> None:
    twin, outputs = deployed
    function, bucket = outputs["IngestScoresFunctionName"], outputs["ResultsBucketName"]
    key = f"scores/{RUN_ID}.csv"
    event = s3_event(twin, bucket, key)
    with without(twin, "ingest-scores", "dynamodb:BatchWriteItem") as role:
        put_scores(twin.client("s3"), bucket, RUN_ID, [ok(RUN_ID, "a.wav", 3)])  # with its proof
        error = invoke(twin, function, event)
    table = f"arn:aws:dynamodb:{twin.region}:{twin.account_id}:table/{outputs['ScoresTableName']}"
    assert error["errorType"] == "ClientError"
    assert error["errorMessage"] == (
        "An error occurred (AccessDeniedException) when calling the BatchWriteItem operation: "
        f"{denial_sentence(role, function, 'dynamodb:BatchWriteItem', table)}"
    )


def test_with_the_templates_role_the_starter_starts_the_instance(deployed) -> None:
    """The other side of the boundary: with the template's role, nothing is refused."""
    twin, outputs = deployed
    before = len(Inspector(twin).access_denials())
    answer = twin.client("lambda").invoke(
        FunctionName=outputs["StartNotebookFunctionName"], Payload="{}"
    )
    assert json.loads(answer["Payload"].read())["action"] == "started"
    assert len(Inspector(twin).access_denials()) == before


def test_ingest_needs_list_bucket_to_report_a_missing_csv_as_bad_input(deployed) -> None:
    """S3 answers GetObject on a missing key with NoSuchKey only to a caller that may list the
    bucket, else AccessDenied (S3 API reference, GetObject): ListScoresPrefix is what lets
    ingest report "does not exist" as a FAILED run instead of crashing."""
    twin, outputs = deployed
    function, bucket = outputs["IngestScoresFunctionName"], outputs["ResultsBucketName"]
    key = "scores/2026-11-25T20-00-00Z-000000.csv"  # never uploaded
    event = s3_event(twin, bucket, key)
    answer = twin.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))
    [record] = json.loads(answer["Payload"].read())["records"]
    assert record["outcome"] == "failed"
    assert "does not exist (NoSuchKey)" in record["error"]

    with without(twin, "ingest-scores", "s3:ListBucket"):
        error = invoke(twin, function, event)
    assert (
        "An error occurred (AccessDenied) when calling the GetObject operation"
        in (error["errorMessage"])
    )
    assert "s3:ListBucket" in error["errorMessage"]
