"""The notebook host's container runner (TWIN=localstack), with a fake `docker` on PATH.

The fake (FakeContainer, tests/docker/conftest.py) records every call and plays the
notebook-instance container on this machine: `docker exec` runs the container's real command
(docker/notebook-instance/notebook-instance.sh) with its paths in a temporary folder, and
`docker restart` ends everything that exec started, as a restart ends everything in a
container. The host drives it over HTTP with boto3, as in AWS.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulation.core.backends import EnvClients
from emulation.core.twin import Twin
from emulation.sagemaker.messages import hook_failed
from emulation.sagemaker.notebook_host import LOG_GROUP, ON_START_STREAM, NotebookHost
from tests.conftest import quick_notebooks
from tests.emulation.sagemaker.test_notebook_host import stopped_instance

ROLE_ARN = "arn:aws:iam::123456789012:role/notebook"
DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)
CONTAINER = "nb-container"

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="needs bash and GNU coreutils (timeout, tail --pid) for the container's command",
)


@pytest.fixture
def docker(fake_container: Any) -> Any:
    return fake_container


@pytest.fixture(scope="module")
def twin_and_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Twin, NotebookHost]]:
    twin = Twin()
    config = quick_notebooks(
        tmp_path_factory.mktemp("notebooks"),
        max_run_seconds=60.0,
        runner="container",
        container=CONTAINER,
    )
    host = NotebookHost(twin, config)
    twin.add_part("sagemaker", host)
    twin.start()
    yield twin, host
    twin.stop()


@pytest.fixture
def host(twin_and_host: tuple[Twin, NotebookHost], docker: Any) -> Iterator[NotebookHost]:
    twin, host = twin_and_host
    base_config = host.config
    yield host
    twin.reset()
    host.config = base_config


@pytest.fixture
def sm(twin_and_host: tuple[Twin, NotebookHost]) -> Any:
    return twin_and_host[0].client("sagemaker")


def execs(docker: Any) -> list[list[str]]:
    return [call for call in docker.calls() if call[0] == "exec"]


def restarts(docker: Any) -> list[list[str]]:
    return [call for call in docker.calls() if call[0] == "restart"]


def test_hook_runs_in_the_container_with_one_docker_exec(sm, host, docker, twin_and_host) -> None:
    script = (
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        'echo "hello from the container"\n'
        'cp "$NOTEBOOK_METADATA_FILE" "$SAGEMAKER_HOME/metadata-seen.json"\n'
        'echo "$PWD" > "$SAGEMAKER_HOME/cwd.txt"\n'
    )
    arn = stopped_instance(sm, host, "nb-exec", script)

    sm.start_notebook_instance(NotebookInstanceName="nb-exec")
    host.wait_for_status("nb-exec", "InService")

    assert execs(docker) == [
        [
            "exec",
            "-i",
            "-e",
            "LIFECYCLE_HOOK_TIMEOUT=20",
            CONTAINER,
            "notebook-instance",
            "run-hook",
            "on-start",
            "nb-exec",
            arn,
        ]
    ]
    home = docker.path(CONTAINER, "home", "ec2-user", "SageMaker")
    metadata = json.loads((home / "metadata-seen.json").read_text())
    assert metadata == {"ResourceArn": arn, "ResourceName": "nb-exec"}
    assert (home / "cwd.txt").read_text().strip() == "/"
    assert "hello from the container" in host.hook_log("nb-exec")
    logs = twin_and_host[0].client("logs")
    events = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=f"nb-exec/{ON_START_STREAM}"
    )["events"]
    assert "hello from the container" in [event["message"] for event in events]
    moves = [(t.from_status, t.to_status) for t in host.transitions if t.instance == "nb-exec"]
    assert moves[-2:] == [("Stopped", "Pending"), ("Pending", "InService")]
    assert restarts(docker) == []


def test_stop_restarts_the_container_and_ends_what_the_hook_left_running(sm, host, docker) -> None:
    script = (
        "#!/bin/bash\n"
        "nohup sleep 300 >/dev/null 2>&1 &\n"
        'echo $! > "$SAGEMAKER_HOME/background.pid"\n'
    )
    stopped_instance(sm, host, "nb-stop", script)
    sm.start_notebook_instance(NotebookInstanceName="nb-stop")
    host.wait_for_status("nb-stop", "InService")
    pid_file = docker.path(CONTAINER, "home", "ec2-user", "SageMaker", "background.pid")
    background = int(pid_file.read_text())
    assert Path(f"/proc/{background}").exists()

    sm.stop_notebook_instance(NotebookInstanceName="nb-stop")
    host.wait_for_status("nb-stop", "Stopped")

    assert restarts(docker) == [["restart", "-t", "1", CONTAINER]]
    deadline = time.monotonic() + 10
    while _running(background) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(background)


def test_hook_past_the_limit_fails_as_on_aws(sm, host, docker) -> None:
    host.config = dataclasses.replace(host.config, hook_limit_seconds=1.0)
    arn = stopped_instance(sm, host, "nb-slow", "#!/bin/bash\nsleep 30\n")

    sm.start_notebook_instance(NotebookInstanceName="nb-slow")
    host.wait_for_status("nb-slow", "Failed", timeout=30)

    described = sm.describe_notebook_instance(NotebookInstanceName="nb-slow")
    config_arn = sm.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="nb-slow-lc"
    )["NotebookInstanceLifecycleConfigArn"]
    assert described["FailureReason"] == hook_failed(config_arn, arn, 1.0)
    assert "LIFECYCLE_HOOK_TIMEOUT=1" in execs(docker)[0]
    assert restarts(docker) == [["restart", "-t", "1", CONTAINER]]


def test_failing_hook_fails_with_awss_reason_and_its_output_in_the_log(sm, host, docker) -> None:
    arn = stopped_instance(sm, host, "nb-broken", "#!/bin/bash\necho 'no corpus here'\nexit 3\n")

    sm.start_notebook_instance(NotebookInstanceName="nb-broken")
    host.wait_for_status("nb-broken", "Failed")

    reason = sm.describe_notebook_instance(NotebookInstanceName="nb-broken")["FailureReason"]
    config_arn = arn.replace(":notebook-instance/", ":notebook-instance-lifecycle-config/")
    assert reason == hook_failed(config_arn + "-lc", arn, 20.0)
    assert host.transitions[-1].reason == "OnStart hook exited with status 3"
    assert "no corpus here" in host.hook_log("nb-broken")
    assert restarts(docker) == [["restart", "-t", "1", CONTAINER]]


def test_create_runs_on_create_then_on_start_in_the_container(sm, host, docker) -> None:
    def hook(text: str) -> list[dict[str, str]]:
        script = f'#!/bin/bash\necho {text} >> "$SAGEMAKER_HOME/hooks.txt"\n'
        return [{"Content": base64.b64encode(script.encode()).decode()}]

    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="both-lc",
        OnCreate=hook("create"),
        OnStart=hook("start"),
    )
    arn = sm.create_notebook_instance(
        NotebookInstanceName="nb-both",
        InstanceType="ml.t3.medium",
        RoleArn=ROLE_ARN,
        LifecycleConfigName="both-lc",
    )["NotebookInstanceArn"]
    host.wait_for_status("nb-both", "InService")

    assert [call[7:] for call in execs(docker)] == [
        ["on-create", "nb-both", arn],
        ["on-start", "nb-both", arn],
    ]
    hooks = docker.path(CONTAINER, "home", "ec2-user", "SageMaker", "hooks.txt")
    assert hooks.read_text().split() == ["create", "start"]


def test_extra_env_reaches_the_hook_through_docker_exec(sm, host, docker) -> None:
    host.config = dataclasses.replace(host.config, extra_env={"ASR_POLL_INTERVAL": "1"})
    script = '#!/bin/bash\necho "$ASR_POLL_INTERVAL" > "$SAGEMAKER_HOME/poll.txt"\n'
    stopped_instance(sm, host, "nb-env", script)

    sm.start_notebook_instance(NotebookInstanceName="nb-env")
    host.wait_for_status("nb-env", "InService")

    [call] = execs(docker)
    assert call[2:6] == ["-e", "ASR_POLL_INTERVAL=1", "-e", "LIFECYCLE_HOOK_TIMEOUT=20"]
    poll = docker.path(CONTAINER, "home", "ec2-user", "SageMaker", "poll.txt")
    assert poll.read_text().strip() == "1"


def test_unreachable_engine_fails_the_instance_with_dockers_words(sm, host, docker) -> None:
    stopped_instance(sm, host, "nb-no-engine", "#!/bin/bash\necho never\n")
    docker.engine_down()

    sm.start_notebook_instance(NotebookInstanceName="nb-no-engine")
    host.wait_for_status("nb-no-engine", "Failed")

    reason = sm.describe_notebook_instance(NotebookInstanceName="nb-no-engine")["FailureReason"]
    assert DAEMON_DOWN in reason
    assert not docker.path(CONTAINER, "home", "ec2-user", "SageMaker").exists()


def test_missing_docker_cli_fails_the_instance_saying_so(
    sm, host, docker, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped_instance(sm, host, "nb-no-cli", "#!/bin/bash\necho never\n")
    host.config = dataclasses.replace(host.config, docker="docker-not-installed")

    sm.start_notebook_instance(NotebookInstanceName="nb-no-cli")
    host.wait_for_status("nb-no-cli", "Failed")

    reason = sm.describe_notebook_instance(NotebookInstanceName="nb-no-cli")["FailureReason"]
    assert "Docker CLI 'docker-not-installed' not found on PATH" in reason
    assert docker.calls() == []


def test_hook_output_goes_to_the_backends_cloudwatch_logs(
    sm, host, docker, other_aws: dict[str, str], twin_and_host
) -> None:
    host.config = dataclasses.replace(host.config, aws_env=other_aws)
    stopped_instance(sm, host, "nb-logs", "#!/bin/bash\necho 'to the backend'\n")

    sm.start_notebook_instance(NotebookInstanceName="nb-logs")
    host.wait_for_status("nb-logs", "InService")

    logs = EnvClients(other_aws).client("logs")
    events = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=f"nb-logs/{ON_START_STREAM}"
    )["events"]
    assert [event["message"] for event in events] == ["to the backend"]
    own = twin_and_host[0].client("logs").describe_log_groups()["logGroups"]
    assert LOG_GROUP not in [group["logGroupName"] for group in own]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
