"""``python -m deploy``: arguments, exit codes and what it prints, against the twin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.__main__ import main, parse_params
from deploy.errors import InvalidParameterError
from deploy.progress import PlainReporter, default_reporter
from emulation.core.twin import Twin
from tests.deploy.conftest import point_boto3_at

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


@pytest.fixture
def twin_env(fresh_twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Twin:
    """The process environment pointing boto3 at the twin, as `make twin` prints it."""
    point_boto3_at(fresh_twin.env(), monkeypatch)
    return fresh_twin


def test_params_are_key_value_pairs() -> None:
    assert parse_params(["A=1", "B=", "C=x=y"]) == {"A": "1", "B": "", "C": "x=y"}
    with pytest.raises(InvalidParameterError, match="KEY=VALUE"):
        parse_params(["novalue"])


def test_module_entry_point_shows_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "up" in result.stdout
    assert "down" in result.stdout


def test_plain_output_when_not_a_terminal() -> None:
    assert isinstance(default_reporter(), PlainReporter)  # pytest captures stdout


def test_bad_stack_name_exits_1_with_the_reason(
    twin_env: Twin, captured: Any, project: Path
) -> None:
    code = main(["up", "--stack", "Asr_Monitor", "--project-root", str(project)], captured)
    assert code == 1
    assert "stack name 'Asr_Monitor'" in captured.err.getvalue()


def test_failed_create_exits_1_naming_the_resource_then_down_cleans_up(
    twin_env: Twin, captured: Any, project: Path
) -> None:
    argv = ["up", "--stack", "cli", "--project-root", str(project)]

    code = main([*argv, "--param", "NotebookInstanceType=ml.bogus.type"], captured)

    assert code == 1
    error = captured.err.getvalue()
    assert "stack cli: CREATE_FAILED" in error
    assert "NotebookInstance (AWS::SageMaker::NotebookInstance) CREATE_FAILED" in error
    assert "ml.bogus.type" in error
    assert main(["down", "--stack", "cli"], captured) == 0
    assert twin_env.client("cloudformation").describe_stacks()["Stacks"] == []


def test_up_dry_run_and_down(twin_env: Twin, project: Path, captured: Any) -> None:
    argv = ["up", "--stack", "cli", "--project-root", str(project)]
    assert main(argv, captured) == 0
    assert "ScoresTableName = cli-scores" in captured.text

    assert main([*argv, "--dry-run", "--param", "RegressionThreshold=0.2"], captured) == 0
    assert "dry run: change set deleted, nothing executed" in captured.text
    lam = twin_env.client("lambda")
    function = lam.get_function_configuration(FunctionName="cli-ingest-scores")
    assert function["Environment"]["Variables"]["REGRESSION_THRESHOLD"] == "0.02"

    assert main(["down", "--stack", "cli"], captured) == 0
    assert "stack cli deleted" in captured.text


def test_down_keeps_the_scores_and_logs_and_says_how_to_remove_them(
    twin_env: Twin, project: Path, captured: Any
) -> None:
    """DeletionPolicy Retain on the scores table and log groups (CloudFormation keeps them on
    stack deletion); a create under the same name is refused at once, naming them, instead of
    failing on "already exists" in CloudFormation."""
    argv = ["up", "--stack", "kept", "--project-root", str(project)]
    assert main(argv, captured) == 0
    dynamodb, logs = twin_env.client("dynamodb"), twin_env.client("logs")
    dynamodb.put_item(TableName="kept-scores", Item={"pk": {"S": "RUN#x"}, "sk": {"S": "SUMMARY"}})

    assert main(["down", "--stack", "kept"], captured) == 0
    assert "kept (DeletionPolicy Retain" in captured.text
    assert "DynamoDB table kept-scores" in captured.text
    assert "--delete-retained" in captured.text
    assert dynamodb.scan(TableName="kept-scores")["Count"] == 1
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/kept-")["logGroups"]
    assert {g["logGroupName"] for g in groups} == {
        "/aws/lambda/kept-start-notebook",
        "/aws/lambda/kept-ingest-scores",
    }

    assert main(argv, captured) == 1
    assert "DynamoDB table kept-scores" in captured.err.getvalue()
    assert (
        "already exist(s), kept when an earlier stack kept was deleted" in captured.err.getvalue()
    )

    assert main(["down", "--stack", "kept", "--delete-retained"], captured) == 0
    assert "deleted DynamoDB table kept-scores" in captured.text
    assert "kept-scores" not in dynamodb.list_tables()["TableNames"]
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/kept-")["logGroups"] == []
    assert main(argv, captured) == 0
    assert main(["down", "--stack", "kept", "--delete-retained"], captured) == 0


def test_rich_output_on_a_terminal_shows_tables_events_and_errors() -> None:
    from rich.console import Console

    from deploy.errors import DeployError
    from deploy.progress import Change, RichReporter

    out, err = Console(record=True, width=200), Console(record=True, width=200)
    reporter = RichReporter(out, err)
    reporter.changes([Change("Modify", "IngestFunction", "AWS::Lambda::Function", "False")])
    reporter.event(
        {
            "LogicalResourceId": "IngestFunction",
            "ResourceType": "AWS::Lambda::Function",
            "ResourceStatus": "UPDATE_FAILED",
            "ResourceStatusReason": "boom",
        }
    )
    reporter.outputs({"ScoresTableName": "t1-scores"})
    reporter.error(DeployError("stack t1: UPDATE_FAILED"))
    shown = out.export_text()
    assert "Modify" in shown and "IngestFunction" in shown and "False" in shown
    assert "IngestFunction AWS::Lambda::Function UPDATE_FAILED: boom" in shown
    assert "t1-scores" in shown
    assert "error: stack t1: UPDATE_FAILED" in err.export_text()
