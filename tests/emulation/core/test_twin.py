"""The twin as a whole: composition, reset, error records, patches undone, and `serve`."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.awslambda.models import LambdaFunction
from moto.events.models import Rule
from moto.s3 import notifications

from emulation import cli
from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.build import TwinConfig, build_twin
from emulation.core.errors import TwinConfigError
from emulation.core.inspector import Inspector
from emulation.core.server import free_port
from emulation.core.twin import PartMissing, Twin, export_lines
from emulation.events.scheduler import Scheduler
from emulation.sagemaker.notebook_host import NotebookHost
from tests.conftest import LAMBDA_TRUST_POLICY

REPO = Path(__file__).resolve().parents[3]
TRUST = json.dumps(LAMBDA_TRUST_POLICY)
RETURNS = "def handler(event, context):\n    return event\n"


@pytest.fixture
def own_twin() -> Iterator[Twin]:
    """A twin of this test's own (this module never uses the shared one)."""
    twin = build_twin(TwinConfig(parts=("lambda", "events"), lambda_retry_delays=(0.05,)))
    with twin:
        yield twin


def test_env_and_export_lines_point_boto3_at_the_twin() -> None:
    twin = Twin(port=4599)
    env = twin.env()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:4599" in export_lines(env)


def test_reset_empties_aws_and_the_records(own_twin: Twin) -> None:
    own_twin.client("s3").create_bucket(Bucket="kept-until-reset")
    role = own_twin.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    own_twin.client("lambda").create_function(
        FunctionName="f",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip(RETURNS)},
    )
    own_twin.client("lambda").invoke(FunctionName="f", Payload="{}")
    own_twin.record_error("test", "something broke")

    own_twin.reset()

    assert own_twin.client("s3").list_buckets()["Buckets"] == []
    assert Inspector(own_twin).invocations() == []
    assert Inspector(own_twin).errors() == []


def test_record_error_logs_and_keeps_the_error(
    own_twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="emulation.demo"):
        error = own_twin.record_error("demo", "it broke", traceback="Traceback: here", job="j1")

    assert own_twin.errors == [error]
    assert error.context == {"job": "j1"}
    assert "it broke\nTraceback: here" in caplog.text


def test_stopping_the_twin_puts_moto_back() -> None:
    def current() -> tuple[object, ...]:
        return (
            LambdaFunction.__init__,
            LambdaFunction.invoke,
            Rule.send_to_targets,
            notifications._invoke_awslambda,
        )

    originals = current()
    with build_twin(TwinConfig(parts=("lambda", "events"))):
        assert all(now is not before for now, before in zip(current(), originals, strict=True))
    assert current() == originals


def test_unknown_part_names_are_refused_by_name() -> None:
    with pytest.raises(
        TwinConfigError, match=r"unknown part\(s\) ghost; known: iam, cloudformation"
    ):
        build_twin(TwinConfig(parts=("events", "ghost")))


def test_parts_are_found_by_their_class(own_twin: Twin) -> None:
    assert own_twin.part(Scheduler) is own_twin.parts["events"]
    assert own_twin.find_part(NotebookHost) is None
    with pytest.raises(PartMissing, match=r"no NotebookHost part \(parts: lambda, events\)"):
        own_twin.part(NotebookHost)


def test_the_scheduler_is_given_the_lambda_runtime(own_twin: Twin) -> None:
    assert own_twin.part(Scheduler).runtime is own_twin.part(LambdaRuntime)


def test_e2e_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["e2e", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "same-stem .txt reference" in text  # --corpus
    assert "CloudFormation stack" in text  # --stack
    assert "seconds the chain may take" in text  # --timeout


def test_serve_prints_the_exports_and_serves_until_interrupted() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulation", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = [proc.stdout.readline() for _ in range(6)]
        exports = dict(
            line.removeprefix("export ").strip().split("=", 1)
            for line in banner
            if line.startswith("export ")
        )
        assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=exports["AWS_ENDPOINT_URL"],
            region_name=exports["AWS_DEFAULT_REGION"],
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket="served")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["served"]
        clients = {
            name: boto3.client(
                name,
                endpoint_url=exports["AWS_ENDPOINT_URL"],
                region_name=exports["AWS_DEFAULT_REGION"],
                aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            )
            for name in ("iam", "lambda")
        }
        role = clients["iam"].create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        clients["lambda"].create_function(
            FunctionName="f",
            Runtime="python3.11",
            Role=role["Role"]["Arn"],
            Handler="app.handler",
            Code={"ZipFile": _zip(RETURNS)},
        )
        for _ in range(2):
            assert "FunctionError" not in clients["lambda"].invoke(FunctionName="f", Payload="{}")
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    # Counted before the twin stops (stopping resets what the parts recorded).
    assert "twin stopped: 2 Lambda invocation(s), 0 error(s)" in stderr


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def test_a_twin_leaves_no_temporary_folder_behind() -> None:
    """The default notebook-instance sandbox is the twin's own: it goes when the twin stops."""
    twin = build_twin(TwinConfig(parts=("sagemaker",)))
    root = twin.part(NotebookHost).config.sandbox_root
    with twin:
        assert root.is_dir()
    assert not root.exists()
