"""The notebook-instance container's command (docker/notebook-instance/notebook-instance.sh).

It is a bash script, so it runs here as it would in the container, with its paths pointed at a
temporary folder: the lifecycle hook contract the twin's notebook host relies on is checked
without a Docker engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docker" / "notebook-instance" / "notebook-instance.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="needs bash and GNU coreutils (timeout, tail --pid)",
)


class Instance:
    """The script with its instance paths under a temporary root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.metadata_file = root / "opt" / "ml" / "metadata" / "resource-metadata.json"
        self.hook_dir = root / "var" / "log" / "lifecycle-config"
        self.home = root / "home" / "ec2-user" / "SageMaker"
        self.profile = root / "etc" / "profile.d" / "asr-monitor-twin.sh"
        self.env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "LANG": "C.UTF-8",
            "NOTEBOOK_METADATA_FILE": str(self.metadata_file),
            "LIFECYCLE_HOOK_DIR": str(self.hook_dir),
            "SAGEMAKER_HOME": str(self.home),
            "NOTEBOOK_PROFILE_FILE": str(self.profile),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://localstack:4566",
            "AWS_ENDPOINT_URL_SAGEMAKER": "http://twin:5000",
        }

    def run(
        self, *args: str, stdin: str = "", timeout: float = 30, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    return Instance(tmp_path)


def test_hook_runs_as_on_aws_from_root_with_the_metadata_file(instance: Instance) -> None:
    hook = (
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        'echo "cwd=$PWD"\n'
        'echo "sagemaker=$AWS_ENDPOINT_URL_SAGEMAKER"\n'
        'cat "$NOTEBOOK_METADATA_FILE"\n'
    )
    result = instance.run("run-hook", "on-start", "asr-Monitor-1", stdin=hook)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["cwd=/", "sagemaker=http://twin:5000"]
    assert json.loads(lines[2]) == {
        "ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/asr-monitor-1",
        "ResourceName": "asr-Monitor-1",
    }
    assert json.loads(instance.metadata_file.read_text())["ResourceName"] == "asr-Monitor-1"
    # The script and its log stay in the instance, like the CloudWatch stream on AWS.
    assert (instance.hook_dir / "on-start.sh").read_text() == hook
    assert (instance.hook_dir / "on-start.log").read_text() == result.stdout
    assert instance.home.is_dir()


def test_given_arn_is_written_as_is(instance: Instance) -> None:
    arn = "arn:aws:sagemaker:eu-west-1:111122223333:notebook-instance/nb"
    result = instance.run(
        "run-hook", "on-create", "nb", arn, stdin="#!/bin/sh\ncat $NOTEBOOK_METADATA_FILE\n"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ResourceArn"] == arn


def test_hook_exit_status_is_the_commands(instance: Instance) -> None:
    result = instance.run("run-hook", "on-start", "nb", stdin="#!/bin/bash\necho half\nexit 7\n")
    assert result.returncode == 7
    assert result.stdout == "half\n"


def test_hook_past_the_limit_is_stopped_with_status_124(instance: Instance) -> None:
    result = instance.run(
        "run-hook",
        "on-start",
        "nb",
        stdin="#!/bin/bash\necho started\nexec sleep 60\n",
        LIFECYCLE_HOOK_TIMEOUT="1",
    )
    assert result.returncode == 124
    assert result.stdout == "started\n"
    assert "on-start hook of nb ran past 1s and was stopped" in result.stderr


def test_backgrounded_work_outlives_the_hook_without_holding_it(instance: Instance) -> None:
    """Like `nohup papermill ... &` on AWS: the hook returns, the work goes on."""
    go, done = instance.root / "go", instance.root / "done"
    hook = (
        "#!/bin/bash\n"
        f"nohup bash -c 'while [ ! -e {go} ]; do sleep 0.05; done; echo ran > {done}' &\n"
        "echo hook-done\n"
    )
    try:
        result = instance.run("run-hook", "on-start", "nb", stdin=hook, timeout=20)
        assert result.returncode == 0, result.stderr
        assert "hook-done" in result.stdout
        assert not done.exists()  # it cannot finish before `go`, so the hook did not await it
    finally:
        go.touch()
    deadline = time.monotonic() + 20
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.read_text() == "ran\n"


def test_crlf_script_fails_as_on_aws(instance: Instance) -> None:
    result = instance.run("run-hook", "on-start", "nb", stdin="#!/bin/bash\r\necho hi\r\n")
    assert result.returncode != 0
    assert "hi" not in result.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["on-start", "nb"], "", "no on-start script on stdin"),
        (["on-stop", "nb"], "#!/bin/sh\n", "unknown lifecycle event 'on-stop'"),
        (["on-start", 'nb"}'], "#!/bin/sh\n", "invalid notebook instance name"),
        (["on-start", "-nb"], "#!/bin/sh\n", "invalid notebook instance name"),
    ],
)
def test_bad_requests_are_refused(
    instance: Instance, args: list[str], stdin: str, message: str
) -> None:
    result = instance.run("run-hook", *args, stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr


def start_idle(instance: Instance, env: dict[str, str]) -> None:
    """Runs the default command until it says it idles, then ends it."""
    instance.profile.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        ["bash", str(SCRIPT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "idle, waiting for lifecycle hooks" in process.stdout.readline()
    finally:
        process.kill()
        process.communicate()


def test_idle_exports_the_aws_settings_for_login_shells(instance: Instance) -> None:
    start_idle(instance, instance.env)
    # What `sudo -u ec2-user -i` would see: a fresh environment that sources the profile.
    login = subprocess.run(
        ["env", "-i", "bash", "-c", f'. "{instance.profile}"; env'],
        capture_output=True,
        text=True,
        check=True,
    )
    seen = dict(line.split("=", 1) for line in login.stdout.splitlines() if "=" in line)
    assert seen["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert seen["AWS_ENDPOINT_URL_SAGEMAKER"] == "http://twin:5000"
    assert seen["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "NOTEBOOK_METADATA_FILE" not in seen


def test_idle_without_aws_settings_still_idles(instance: Instance) -> None:
    env = {k: v for k, v in instance.env.items() if not k.startswith("AWS_")}
    start_idle(instance, env)
    assert "export" not in instance.profile.read_text()


def test_health_checks_what_the_notebook_needs(instance: Instance) -> None:
    if shutil.which("aws", path=instance.env["PATH"]) is None:
        pytest.skip("needs the venv's aws and papermill on PATH")
    instance.home.mkdir(parents=True)
    ok = instance.run("health", PYTHONPATH=str(REPO), timeout=60)
    assert ok.returncode == 0, ok.stderr

    shutil.rmtree(instance.home)
    missing = instance.run("health", PYTHONPATH=str(REPO), timeout=60)
    assert missing.returncode == 2
    assert f"{instance.home} missing" in missing.stderr


def test_unknown_command_prints_usage(instance: Instance) -> None:
    result = instance.run("reboot")
    assert result.returncode == 2
    assert "notebook-instance run-hook EVENT NAME [ARN]" in result.stderr
