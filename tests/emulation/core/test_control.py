"""The twin's control API (/_twin/ on its own endpoint), through its client, as another process
uses it: what only the twin can do (fire a schedule) or tell (a Lambda's error before its DLQ,
the AccessDenied it recorded, an instance's log)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.control_client import ControlError, TwinControl, twin_health
from emulation.core.twin import Twin
from tests.conftest import LAMBDA_TRUST_POLICY, lambda_zip

# Lists the buckets with the function's role, which may do nothing: AccessDenied, then fails.
LIST_BUCKETS = """
import boto3

def handler(event, context):
    return boto3.client("s3").list_buckets()
"""


def test_health_names_the_twin_its_process_and_counts(twin: Twin) -> None:
    health = twin_health(twin.endpoint_url)
    assert health is not None
    assert health["service"] == "asr-monitor twin"
    assert health["pid"] == os.getpid()
    assert health["endpoint"] == twin.endpoint_url
    assert (health["invocations"], health["errors"], health["access_denials"]) == (0, 0, 0)
    assert {"lambda", "events", "sagemaker", "iam"} <= set(health["parts"])


def test_an_endpoint_that_is_not_a_twin_has_no_health() -> None:
    assert twin_health("http://127.0.0.1:9") is None  # nothing listens on the discard port


def test_firing_a_rule_runs_its_target_and_its_failure_and_access_denied_are_told(
    twin: Twin,
) -> None:
    iam, lam, events = twin.client("iam"), twin.client("lambda"), twin.client("events")
    role = iam.create_role(
        RoleName="powerless", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY)
    )["Role"]["Arn"]
    arn = lam.create_function(
        FunctionName="lister",
        Runtime="python3.11",
        Handler="app.handler",
        Role=role,
        Code={"ZipFile": lambda_zip({"app.py": LIST_BUCKETS})},
    )["FunctionArn"]
    lam.add_permission(
        FunctionName="lister",
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
    )
    rule = events.put_rule(Name="nightly", ScheduleExpression="cron(0 20 * * ? *)")["RuleArn"]
    events.put_targets(Rule="nightly", Targets=[{"Id": "1", "Arn": arn}])
    control = TwinControl(twin.endpoint_url)
    before = datetime.now(UTC)

    fired = control.fire("nightly")

    assert fired["rule"] == rule
    twin.part(LambdaRuntime).wait_idle()
    failure = control.lambda_failure("lister")
    assert failure is not None and failure.startswith("lister failed: AccessDenied: ")
    denials = control.access_denials(since=before)
    # Each attempt's call, and Lambda writing its logs with the role.
    assert [d["action"] for d in denials].count("s3:ListAllMyBuckets") == 3
    assert "logs:CreateLogGroup" in {d["action"] for d in denials}
    assert {d["principal"] for d in denials} == {
        "arn:aws:sts::123456789012:assumed-role/powerless/lister"
    }
    later = datetime.now(UTC)
    assert control.access_denials(since=later) == []
    assert control.lambda_failure("lister", since=later) is None
    assert twin_health(twin.endpoint_url)["invocations"] == 3  # the first try and two retries


def test_refusals_are_json_errors_naming_the_problem(twin: Twin) -> None:
    control = TwinControl(twin.endpoint_url)
    with pytest.raises(ControlError, match="400: no scheduled rule 'missing'"):
        control.fire("missing")
    with pytest.raises(ControlError, match="404"):
        control._call("GET", "no/such/thing")
    url = f"{twin.endpoint_url}/_twin/iam/access-denials?since=yesterday"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 400
    assert "not an ISO 8601 time" in json.loads(refused.value.read())["error"]


def test_an_instance_without_a_start_has_no_log_and_no_processes(twin: Twin) -> None:
    control = TwinControl(twin.endpoint_url)
    assert control.instance_log("never-started") == ""
    assert control.instance_processes("never-started") == []
