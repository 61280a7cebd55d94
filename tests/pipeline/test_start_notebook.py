"""The starter Lambda on moto: it starts only what can be started and never crash-loops."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from typing import Any

import boto3
import pytest
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import sagemaker_backends

from pipeline.errors import ConfigurationError
from pipeline.handlers import start_notebook
from pipeline.results_table import starter_notes, table_definition
from pipeline.run_id import new_run_id

ACCOUNT, REGION, NAME = "123456789012", "us-east-1", "asr-monitor"
TABLE, RESULTS = "asr-scores", "asr-results"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch, in_process_aws: None) -> Any:
    monkeypatch.setenv("NOTEBOOK_INSTANCE_NAME", NAME)
    client = boto3.client("sagemaker", region_name=REGION)
    client.create_notebook_instance(
        NotebookInstanceName=NAME,
        InstanceType="ml.t3.medium",
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/notebook",
    )
    return client


def instance() -> Any:
    """moto's model of the instance: moto makes it InService at once, tests set other states."""
    return sagemaker_backends[ACCOUNT][REGION].notebook_instances[NAME]


def status(client: Any) -> str:
    return client.describe_notebook_instance(NotebookInstanceName=NAME)["NotebookInstanceStatus"]


@pytest.mark.parametrize("before", ["Stopped", "Failed"])
def test_a_stopped_or_failed_instance_is_started(sagemaker, before, caplog):
    instance().status = before
    with caplog.at_level(logging.INFO, logger="pipeline"):
        result = start_notebook.handler({"source": "aws.events"}, None)

    assert result == {
        "instance": NAME,
        "previous_status": before,
        "action": "started",
        "message": f"{before}: start requested",
        "notes": [],
    }
    assert json.loads(json.dumps(result)) == result
    assert status(sagemaker) == "InService"  # moto's start goes straight to InService
    assert f"notebook instance {NAME}: {before}: start requested" in caplog.messages


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        ("InService", "already running"),
        ("Pending", "already starting"),
        ("Deleting", "being deleted"),
    ],
)
def test_other_states_are_a_logged_no_op(sagemaker, before, reason, caplog):
    instance().status = before
    with caplog.at_level(logging.INFO, logger="pipeline"):
        result = start_notebook.handler({}, None)

    assert (result["previous_status"], result["action"]) == (before, "none")
    assert result["message"].startswith(f"{before}: ") and reason in result["message"]
    assert status(sagemaker) == before  # untouched
    assert any(reason in message for message in caplog.messages)


@pytest.fixture
def table(sagemaker, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The scores table and results bucket the starter is given (notes and heartbeats)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(**table_definition(TABLE))
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=RESULTS)
    monkeypatch.setenv("SCORES_TABLE", TABLE)
    monkeypatch.setenv("RESULTS_BUCKET", RESULTS)
    monkeypatch.setenv("POLL_SECONDS", "0")
    return dynamodb


def notes(dynamodb: Any) -> list[str]:
    return starter_notes(TABLE, "", "9999", dynamodb)


def test_a_fire_while_stopping_waits_for_stopped_then_starts(table, monkeypatch):
    model = instance()
    model.status = "Stopping"
    polls = []

    def stops_after_two_polls(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            model.status = "Stopped"

    monkeypatch.setattr(start_notebook.time, "sleep", stops_after_two_polls)
    result = start_notebook.handler({}, None)

    assert (result["previous_status"], result["action"]) == ("Stopping", "started")
    assert len(polls) == 2
    assert model.status == "InService"
    assert notes(table) == []


def test_a_fire_still_stopping_after_the_wait_is_skipped_with_a_note(table, monkeypatch):
    monkeypatch.setenv("STOPPED_WAIT_SECONDS", "0")
    instance().status = "Stopping"

    result = start_notebook.handler({}, None)

    assert (result["previous_status"], result["action"]) == ("Stopping", "skipped")
    [note] = notes(table)
    assert note.endswith(f"skipped the scheduled start: {NAME} was still Stopping after 0 s")
    assert result["notes"] == [note.split(": ", 1)[1]]
    assert instance().status == "Stopping"


def test_an_update_in_progress_is_skipped_with_a_note(table):
    instance().status = "Updating"
    result = start_notebook.handler({}, None)
    assert result["action"] == "skipped"
    assert "being updated" in notes(table)[0]


def put_heartbeat(run_id: str) -> None:
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=RESULTS, Key=f"reports/{run_id}/heartbeat.json", Body=b"{}"
    )


def test_an_instance_over_its_limit_without_a_live_heartbeat_is_stopped_and_restarted(
    table, monkeypatch
):
    monkeypatch.setenv("MAX_RUN_MINUTES", "0")
    monkeypatch.setenv("HEARTBEAT_MAX_AGE_SECONDS", "0")
    model = instance()  # moto made it InService at creation, a moment ago
    put_heartbeat("2000-01-01T00-00-00Z-aaaaaa")  # a run long before: not this start's
    stopped = []
    moto_stop = model.stop

    def stop() -> None:
        stopped.append(model.status)
        moto_stop()

    monkeypatch.setattr(model, "stop", stop)
    result = start_notebook.handler({}, None)

    assert stopped == ["InService"]
    assert (result["previous_status"], result["action"]) == ("InService", "stopped and started")
    assert model.status == "InService"  # moto stops and starts at once
    [note] = notes(table)
    assert f"stopped {NAME}: InService for 0 min, over the run's 0-minute limit" in note
    assert note.endswith("with no heartbeat")


def test_a_live_heartbeat_keeps_an_instance_over_its_limit_running(table, monkeypatch):
    monkeypatch.setenv("MAX_RUN_MINUTES", "0")
    monkeypatch.setenv("HEARTBEAT_MAX_AGE_SECONDS", "600")
    run_id = new_run_id()
    put_heartbeat(run_id)
    result = start_notebook.handler({}, None)
    assert (result["previous_status"], result["action"]) == ("InService", "none")
    assert notes(table) == []


def test_a_stale_heartbeat_is_named_in_the_note(table, monkeypatch):
    monkeypatch.setenv("MAX_RUN_MINUTES", "0")
    monkeypatch.setenv("HEARTBEAT_MAX_AGE_SECONDS", "0")
    run_id = new_run_id()
    put_heartbeat(run_id)
    result = start_notebook.handler({}, None)
    assert result["action"] == "stopped and started"
    assert re.search(rf"with no heartbeat since \d{{4}}-.* UTC \(run {run_id}\)$", notes(table)[0])


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_bad_numbers_in_the_configuration_are_named(sagemaker, monkeypatch, value):
    monkeypatch.setenv("MAX_RUN_MINUTES", value)
    with pytest.raises(ConfigurationError, match=f"MAX_RUN_MINUTES must be a number.*{value!r}"):
        start_notebook.handler({}, None)


def test_a_state_change_between_describe_and_start_is_reported_not_raised(sagemaker, monkeypatch):
    model = instance()
    model.status = "Stopped"

    def raced() -> None:  # someone else started it a moment earlier, as AWS would then refuse
        model.status = "Pending"
        raise ValidationError(message="Status (Pending) not in ([Stopped, Failed]).")

    monkeypatch.setattr(model, "start", raced)
    result = start_notebook.handler({}, None)

    assert (result["previous_status"], result["action"]) == ("Stopped", "none")
    assert "start was refused because it is now Pending" in result["message"]
    assert "Status (Pending) not in" in result["message"]


def test_missing_configuration_and_unknown_instance_are_configuration_errors(
    sagemaker, monkeypatch
):
    monkeypatch.setenv("NOTEBOOK_INSTANCE_NAME", "no-such-instance")
    with pytest.raises(ConfigurationError, match="'no-such-instance' cannot be described"):
        start_notebook.handler({}, None)
    monkeypatch.delenv("NOTEBOOK_INSTANCE_NAME")
    with pytest.raises(ConfigurationError, match="NOTEBOOK_INSTANCE_NAME is not set"):
        start_notebook.handler({}, None)


def test_handler_module_imports_only_stdlib_boto3_and_pipeline():
    code = (
        "import sys; before = set(sys.modules); import pipeline.handlers.start_notebook;"
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split()) - {"__mp_main__"}  # multiprocessing's alias of __main__
    boto = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "certifi"}
    assert {"boto3", "pipeline"} <= loaded
    assert loaded - set(sys.stdlib_module_names) - boto - {"pipeline"} == set()
