"""The starter Lambda on moto: it starts only what can be started and never crash-loops."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any

import boto3
import pytest
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import sagemaker_backends

from pipeline.errors import ConfigurationError
from pipeline.handlers import start_notebook

ACCOUNT, REGION, NAME = "123456789012", "us-east-1", "asr-monitor"
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
    }
    assert json.loads(json.dumps(result)) == result
    assert status(sagemaker) == "InService"  # moto's start goes straight to InService
    assert f"notebook instance {NAME}: {before}: start requested" in caplog.messages


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        ("InService", "already running"),
        ("Pending", "already starting"),
        ("Stopping", "the next scheduled run will start it"),
        ("Updating", "being updated"),
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
