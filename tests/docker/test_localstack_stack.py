"""The TWIN=localstack stack, running: LocalStack and the notebook-instance container.

Needs a Docker engine and the Compose plugin; without them conftest.py skips every test here
at collection, with the reason, before pytest-docker starts anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

from emulation.core.backends import LOCALSTACK_SERVICES, LocalStackBackend

pytestmark = pytest.mark.docker

# The twin itself is not started for these tests; only where its services would be routed.
TWIN_URL = "http://127.0.0.1:5000"
NOTEBOOK_CONTAINER = "asr-monitor-notebook-instance"


@pytest.fixture
def aws(
    localstack: LocalStackBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> boto3.session.Session:
    """A boto3 session configured by nothing but the localstack backend's environment."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for key, value in localstack.client_env(TWIN_URL).items():
        monkeypatch.setenv(key, value)
    return boto3.session.Session()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_health_answers_for_every_service_the_twin_routes_there(localstack) -> None:
    ok, reason = localstack.is_available()
    assert ok, reason
    with urllib.request.urlopen(localstack.health_url, timeout=5) as response:
        health = json.load(response)
    assert {s: health["services"][s] in {"available", "running"} for s in LOCALSTACK_SERVICES} == (
        dict.fromkeys(LOCALSTACK_SERVICES, True)
    )
    if not os.environ.get("LOCALSTACK_TAG"):
        assert health["version"].startswith("4.14.0")


def test_account_is_the_twins(aws) -> None:
    assert aws.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_s3_round_trip(aws, localstack) -> None:
    s3 = aws.client("s3")
    assert s3.meta.endpoint_url == localstack.endpoint
    bucket = unique("asr-monitor-test")
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="corpus/clip01.txt", Body=b"hello world")
        body = s3.get_object(Bucket=bucket, Key="corpus/clip01.txt")["Body"].read()
        assert body == b"hello world"
    finally:
        s3.delete_object(Bucket=bucket, Key="corpus/clip01.txt")
        s3.delete_bucket(Bucket=bucket)


def test_dynamodb_round_trip_with_the_scores_table_keys(aws) -> None:
    dynamodb = aws.client("dynamodb")
    table = unique("scores-test")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        dynamodb.get_waiter("table_exists").wait(TableName=table)
        item = {"pk": {"S": "RUN#r1"}, "sk": {"S": "FILE#clip01.wav"}, "wer": {"N": "0.125"}}
        dynamodb.put_item(TableName=table, Item=item)
        got = dynamodb.get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
        assert got["Item"] == item
    finally:
        dynamodb.delete_table(TableName=table)


def test_sns_message_reaches_a_subscriber_with_its_attributes(aws) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic_arn = sns.create_topic(Name=unique("alerts-test"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=unique("alerts-inbox"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    try:
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        sns.publish(
            TopicArn=topic_arn,
            Subject="OK: corpus WER 8.10%",
            Message="delta -0.20 points",
            MessageAttributes={"status": {"DataType": "String", "StringValue": "OK"}},
        )
        messages = sqs.receive_message(
            QueueUrl=queue_url, WaitTimeSeconds=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        assert [m["Body"] for m in messages] == ["delta -0.20 points"]
        assert messages[0]["MessageAttributes"]["status"]["StringValue"] == "OK"
    finally:
        sns.delete_topic(TopicArn=topic_arn)
        sqs.delete_queue(QueueUrl=queue_url)


def test_notebook_instance_has_the_notebook_toolchain(in_notebook_instance) -> None:
    papermill = in_notebook_instance("papermill", "--version")
    assert papermill.returncode == 0, papermill.stderr
    assert b"2.7.0" in papermill.stdout

    aws_cli = in_notebook_instance("aws", "--version")
    assert aws_cli.returncode == 0, aws_cli.stderr
    assert b"aws-cli/1.46.3" in aws_cli.stdout + aws_cli.stderr

    kernels = in_notebook_instance("jupyter", "kernelspec", "list", "--json")
    assert kernels.returncode == 0, kernels.stderr
    assert "python3" in json.loads(kernels.stdout)["kernelspecs"]

    # lifecycle/on-start.sh's default ASR_PYTHON, with what its prepare_kernel step checks.
    conda_python = in_notebook_instance(
        "/home/ec2-user/anaconda3/envs/python3/bin/python",
        "-c",
        "import papermill, ipykernel, jiwer, whisper_normalizer",
    )
    assert conda_python.returncode == 0, conda_python.stderr

    imports = in_notebook_instance(
        "python",
        "-c",
        "import jiwer, whisper_normalizer.english, pipeline.scoring.corpus, pipeline;"
        " print(pipeline.__file__)",
    )
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.decode().strip() == "/opt/asr-monitor/pipeline/__init__.py"


def test_lifecycle_hook_runs_in_the_instance_with_one_command(docker_services) -> None:
    """The notebook host's exact command: the hook sees the metadata and reaches LocalStack."""
    hook = (
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        'echo "cwd=$PWD user=$(id -un)"\n'
        "cat /opt/ml/metadata/resource-metadata.json\n"
        "aws sts get-caller-identity --query Account --output text\n"
        "test -d /home/ec2-user/SageMaker && echo home-ok\n"
    )
    result = subprocess.run(
        [
            "docker",
            "exec",
            "-i",
            NOTEBOOK_CONTAINER,
            "notebook-instance",
            "run-hook",
            "on-start",
            "asr-monitor-test",
        ],
        input=hook.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "cwd=/ user=root"
    assert json.loads(lines[1])["ResourceName"] == "asr-monitor-test"
    assert lines[2:] == ["123456789012", "home-ok"]
