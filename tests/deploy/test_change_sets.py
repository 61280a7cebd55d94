"""Deploying through change sets on the twin: create, no changes, update, dry run, failure, down."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from deploy.errors import InvalidParameterError, StackOperationError
from deploy.package import build_bundle
from deploy.stack import (
    DEPLOYED,
    _Deployment,
    default_artifacts_bucket,
    destroy_stack,
    failures_from_events,
    plan_stack,
    validate_stack_name,
)
from deploy.template import TEMPLATE_PATH
from emulation.core.twin import Twin
from pipeline.aws import Clients

ACCOUNT_REGION = "123456789012-us-east-1"
Deploy = Callable[..., Any]  # the conftest fixture: (stack, params, **kwargs) -> (outputs, printed)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


def stack_status(twin: Twin, stack: str) -> str:
    return twin.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0][
        "StackStatus"
    ]


def test_create_reaches_create_complete_with_every_output(
    fresh_twin: Twin, deploy: Deploy, project: Path
) -> None:
    outputs, printed = deploy("t1", {"AlertEmail": "ops@example.com"})

    assert stack_status(fresh_twin, "t1") == "CREATE_COMPLETE"
    assert outputs["MediaBucketName"] == f"t1-media-{ACCOUNT_REGION}"
    assert outputs["ResultsBucketName"] == f"t1-results-{ACCOUNT_REGION}"
    assert outputs["ScoresTableName"] == "t1-scores"
    assert outputs["AlertTopicArn"] == "arn:aws:sns:us-east-1:123456789012:t1-alerts"
    assert outputs["StartNotebookFunctionName"] == "t1-start-notebook"
    assert outputs["IngestScoresFunctionName"] == "t1-ingest-scores"
    assert outputs["ScheduleRuleName"] == "t1-schedule"
    assert outputs["NotebookInstanceName"] == "t1-notebook"
    assert outputs["LifecycleConfigName"] == "t1-on-start"
    assert "CREATE_COMPLETE" in printed.text
    assert "NotebookInstanceName = t1-notebook" in printed.text

    # The functions run the packaged zip, with the contract's environment.
    bundle = build_bundle(project)
    expected_sha = base64.b64encode(hashlib.sha256(bundle.lambda_zip.body).digest()).decode()
    lam = fresh_twin.client("lambda")
    ingest = lam.get_function_configuration(FunctionName="t1-ingest-scores")
    assert ingest["CodeSha256"] == expected_sha
    assert ingest["Handler"] == "pipeline.handlers.ingest_scores.handler"
    assert ingest["Environment"]["Variables"] == {
        "SCORES_TABLE": "t1-scores",
        "ALERT_TOPIC_ARN": outputs["AlertTopicArn"],
        "REGRESSION_THRESHOLD": "0.02",
        "REGRESSION_CONFIDENCE": "0.95",
        "WORST_FILES": "10",
    }
    starter = lam.get_function_configuration(FunctionName="t1-start-notebook")
    assert starter["Environment"]["Variables"] == {
        "NOTEBOOK_INSTANCE_NAME": "t1-notebook",
        "RESULTS_BUCKET": "t1-results-123456789012-us-east-1",
        "SCORES_TABLE": "t1-scores",
        "MAX_RUN_MINUTES": "120",
        "HEARTBEAT_MAX_AGE_SECONDS": "300",
        "STOPPED_WAIT_SECONDS": "240",
    }
    # The instance artifacts are where ASR_ARTIFACTS points.
    bucket, prefix = outputs["ArtifactsUri"].removeprefix("s3://").split("/", 1)
    on_start = fresh_twin.client("s3").get_object(
        Bucket=bucket, Key=f"{prefix}/lifecycle/on-start.sh"
    )
    assert on_start["Body"].read() == (project / "lifecycle/on-start.sh").read_bytes()


def test_redeploy_without_changes_is_a_success_that_changes_nothing(
    fresh_twin: Twin, deploy: Deploy
) -> None:
    first, _ = deploy("t1", {"AlertEmail": "ops@example.com"})
    events_before = fresh_twin.client("cloudformation").describe_stack_events(StackName="t1")

    again, printed = deploy("t1")  # AlertEmail not given: keeps its previous value

    assert again == first
    assert "no changes" in printed.text
    assert "0 uploaded, 5 already present" in printed.text
    assert stack_status(fresh_twin, "t1") == "CREATE_COMPLETE"
    events_after = fresh_twin.client("cloudformation").describe_stack_events(StackName="t1")
    assert len(events_after["StackEvents"]) == len(events_before["StackEvents"])


def test_parameter_change_updates_the_stack(fresh_twin: Twin, deploy: Deploy) -> None:
    deploy("t1", {"AlertEmail": "ops@example.com"})

    deploy("t1", {"RegressionThreshold": "0.05"})

    assert stack_status(fresh_twin, "t1") == "UPDATE_COMPLETE"
    env = fresh_twin.client("lambda").get_function_configuration(FunctionName="t1-ingest-scores")
    assert env["Environment"]["Variables"]["REGRESSION_THRESHOLD"] == "0.05"
    params = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in fresh_twin.client("cloudformation").describe_stacks(StackName="t1")["Stacks"][0][
            "Parameters"
        ]
    }
    assert params["RegressionThreshold"] == "0.05"
    assert params["AlertEmail"] == "ops@example.com"  # previous value kept


def test_dry_run_of_a_new_stack_lists_additions_and_leaves_nothing(
    fresh_twin: Twin, project: Path, captured: Any
) -> None:
    printed = captured
    changes = plan_stack(
        fresh_twin, "t2", project_root=project, reporter=printed, poll_seconds=0.01
    )

    assert {c.action for c in changes} == {"Add"}
    assert ("NotebookInstance", "AWS::SageMaker::NotebookInstance") in {
        (c.logical_id, c.resource_type) for c in changes
    }
    assert "Add      ScoresTable (AWS::DynamoDB::Table)" in printed.text
    cfn = fresh_twin.client("cloudformation")
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == []
    assert fresh_twin.client("s3").list_buckets()["Buckets"] == []  # nothing uploaded


def test_dry_run_of_an_update_executes_nothing(
    fresh_twin: Twin, deploy: Deploy, project: Path, captured: Any
) -> None:
    deploy("t1")
    plan_stack(
        fresh_twin,
        "t1",
        {"RegressionThreshold": "0.3"},
        project_root=project,
        reporter=captured,
        poll_seconds=0.01,
    )
    assert stack_status(fresh_twin, "t1") == "CREATE_COMPLETE"
    env = fresh_twin.client("lambda").get_function_configuration(FunctionName="t1-ingest-scores")
    assert env["Environment"]["Variables"]["REGRESSION_THRESHOLD"] == "0.02"
    change_sets = fresh_twin.client("cloudformation").list_change_sets(StackName="t1")
    assert [c for c in change_sets["Summaries"] if c["ExecutionStatus"] == "AVAILABLE"] == []


def test_failed_resource_is_reported_with_its_reason(
    fresh_twin: Twin, deploy: Deploy, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        TEMPLATE_PATH.read_text().replace(
            "        S3Bucket: !Ref ArtifactsBucket\n        S3Key: !Ref LambdaCodeKey\n"
            "      Role: !GetAtt IngestScoresRole.Arn",
            "        S3Bucket: no-such-bucket\n        S3Key: !Ref LambdaCodeKey\n"
            "      Role: !GetAtt IngestScoresRole.Arn",
        )
    )
    assert broken.read_text() != TEMPLATE_PATH.read_text()

    with pytest.raises(StackOperationError) as failed:
        deploy("t1", template_path=broken)

    error = failed.value
    assert error.status == "CREATE_FAILED"
    (failure,) = error.failures
    assert failure.logical_id == "IngestFunction"
    assert failure.resource_type == "AWS::Lambda::Function"
    assert "NoSuchBucket" in failure.reason
    assert "IngestFunction (AWS::Lambda::Function) CREATE_FAILED" in str(error)


def test_failures_come_from_events_root_causes_first() -> None:
    def event(logical_id: str, resource_type: str, status: str, reason: str) -> dict[str, str]:
        return {
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }

    stack = "AWS::CloudFormation::Stack"
    events = [  # oldest first, as AWS shows them after a failed create
        event("t1", stack, "CREATE_IN_PROGRESS", "User Initiated"),
        event("Table", "AWS::DynamoDB::Table", "CREATE_FAILED", "Resource creation cancelled"),
        event("Fn", "AWS::Lambda::Function", "CREATE_FAILED", "Error occurred while GetObject"),
        event("t1", stack, "ROLLBACK_IN_PROGRESS", "failed: [Fn, Table]"),
    ]
    (failure,) = failures_from_events(events, "t1")
    assert (failure.logical_id, failure.reason) == ("Fn", "Error occurred while GetObject")
    only_cancelled = failures_from_events(events[:2], "t1")
    assert [f.logical_id for f in only_cancelled] == ["Table"]


def test_down_empties_every_version_deletes_the_stack_and_its_artifacts(
    fresh_twin: Twin, deploy: Deploy, captured: Any
) -> None:
    outputs, _ = deploy("t1")
    deploy("t3")
    s3 = fresh_twin.client("s3")
    results = outputs["ResultsBucketName"]
    s3.put_bucket_versioning(Bucket=results, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=results, Key="reports/r1/summary.json", Body=b"1")
    s3.put_object(Bucket=results, Key="reports/r1/summary.json", Body=b"2")
    s3.delete_object(Bucket=results, Key="reports/r1/summary.json")
    s3.put_object(Bucket=outputs["MediaBucketName"], Key="corpus/a.wav", Body=b"RIFF")
    printed = captured

    assert destroy_stack(fresh_twin, "t1", reporter=printed, poll_seconds=0.01) is True

    with pytest.raises(ClientError, match="does not exist"):
        fresh_twin.client("cloudformation").describe_stacks(StackName="t1")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert results not in buckets
    assert outputs["MediaBucketName"] not in buckets
    artifacts = default_artifacts_bucket(Clients(fresh_twin))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=artifacts).get("Contents", [])]
    assert keys and all(key.startswith("t3/") for key in keys)  # the other stack's stay
    assert f"{results}: 3 object versions deleted" in printed.text
    assert stack_status(fresh_twin, "t3") == "CREATE_COMPLETE"


def test_down_of_a_missing_stack_says_so(fresh_twin: Twin, captured: Any) -> None:
    printed = captured
    assert destroy_stack(fresh_twin, "nope", reporter=printed, poll_seconds=0.01) is False
    assert "does not exist" in printed.text


@pytest.mark.parametrize("name", ["Asr", "1asr", "a" * 28, "asr_monitor", "asr-"])
def test_stack_names_that_cannot_name_buckets_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="stack name"):
        validate_stack_name(name)
    assert validate_stack_name("asr-monitor-2") == "asr-monitor-2"


def test_unknown_parameter_is_refused_with_the_known_ones(fresh_twin: Twin, deploy: Deploy) -> None:
    with pytest.raises(InvalidParameterError, match=r"NoSuchParam.*ScheduleExpression"):
        deploy("t1", {"NoSuchParam": "1"})


class StuckCloudFormation:
    """A CloudFormation that never finishes creating (only the calls a wait makes)."""

    def describe_stack_events(self, StackName: str, **_: Any) -> dict[str, Any]:
        return {
            "StackEvents": [
                {
                    "EventId": "e1",
                    "LogicalResourceId": "ScoresTable",
                    "ResourceType": "AWS::DynamoDB::Table",
                    "ResourceStatus": "CREATE_IN_PROGRESS",
                }
            ]
        }

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackId": StackName, "StackStatus": "CREATE_IN_PROGRESS"}]}


def test_wait_gives_up_at_the_timeout_and_says_where_it_was(captured: Any) -> None:
    waiting = _Deployment(
        Clients({"cloudformation": StuckCloudFormation()}), "t1", captured, poll_seconds=0.01
    )
    with pytest.raises(StackOperationError, match="CREATE_IN_PROGRESS: still CREATE_IN_PROGRESS"):
        waiting._wait(None, 0.05, "stack-id", DEPLOYED)
    assert "ScoresTable AWS::DynamoDB::Table CREATE_IN_PROGRESS" in captured.text
