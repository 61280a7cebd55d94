"""The notebook-instance host, driven over HTTP with boto3 and real bash hooks.

AWS's contract, row by row, is tested in test_notebook_contract.py; these tests drive the host's own
machinery (processes, watchdog, logs, reset, patches)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from moto.sagemaker.models import FakeSagemakerNotebookInstance, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from emulation.core.twin import Twin
from emulation.sagemaker.config import NotebookHostConfig
from emulation.sagemaker.messages import hook_failed
from emulation.sagemaker.notebook_host import NotebookHost, NotebookHostTimeout
from tests.conftest import quick_notebooks

ROLE_ARN = "arn:aws:iam::123456789012:role/notebook"
# The preamble a real on-start script uses: defaults are the paths on a real instance (which
# the twin's namespace provides; without one, the variables point into the sandbox).
PREAMBLE = """#!/bin/bash
set -euo pipefail
META="${NOTEBOOK_METADATA_FILE:-/opt/ml/metadata/resource-metadata.json}"
WORK="${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}"
PY=/home/ec2-user/anaconda3/envs/python3/bin/python
[ -x "$PY" ] || PY=python
NAME=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ResourceName"])' "$META")
"""


@pytest.fixture(scope="module")
def twin_and_host(tmp_path_factory: pytest.TempPathFactory):
    # Module scope (not session): only one twin may be installed per process at a time.
    twin = Twin()
    config = quick_notebooks(
        tmp_path_factory.mktemp("notebooks"), max_run_seconds=60.0, pending_seconds=0.2
    )
    host = NotebookHost(twin, config)
    twin.add_part("sagemaker", host)
    twin.start()
    yield twin, host
    twin.stop()


@pytest.fixture
def host(twin_and_host):
    twin, host = twin_and_host
    base_config = host.config
    yield host
    host.config = base_config
    twin.reset()


@pytest.fixture
def sm(twin_and_host):
    return twin_and_host[0].client("sagemaker")


def encoded(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


def stopped_instance(sm, host: NotebookHost, name: str, script: str | None = None) -> str:
    """An instance at rest, with a lifecycle configuration holding `script` as OnStart,
    attached once Stopped (so the hook has not run yet: creating runs OnStart)."""
    arn = sm.create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE_ARN
    )["NotebookInstanceArn"]
    host.wait_for_status(name, "InService")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    host.wait_for_status(name, "Stopped")
    if script is not None:
        sm.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=f"{name}-lc",
            OnStart=[{"Content": encoded(script)}],
        )
        sm.update_notebook_instance(NotebookInstanceName=name, LifecycleConfigName=f"{name}-lc")
        host.wait_for_status(name, "Stopped")
    return arn


def on_start_lines(twin: Twin, name: str) -> list[str]:
    """The instance's LifecycleConfigOnStart stream in CloudWatch Logs."""
    events = twin.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/NotebookInstances",
        logStreamName=f"{name}/LifecycleConfigOnStart",
    )["events"]
    return [event["message"] for event in events]


def describe(sm, name: str) -> dict:
    return sm.describe_notebook_instance(NotebookInstanceName=name)


def moves(host: NotebookHost, name: str) -> list[tuple[str, str]]:
    return [(t.from_status, t.to_status) for t in host.transitions if t.instance == name]


def test_start_goes_pending_then_in_service_and_runs_the_hook_in_the_sandbox(
    sm, host, twin_and_host
):
    script = PREAMBLE + 'echo "$NAME" > "$WORK/ran-on.txt"\necho "hook says hello"\n'
    stopped_instance(sm, host, "nb-basic", script)

    sm.start_notebook_instance(NotebookInstanceName="nb-basic")
    assert describe(sm, "nb-basic")["NotebookInstanceStatus"] == "Pending"
    host.wait_for_status("nb-basic", "InService")

    sandbox = host.sandbox("nb-basic")
    assert (sandbox.sagemaker_home / "ran-on.txt").read_text() == "nb-basic\n"
    metadata = json.loads(sandbox.metadata_file.read_text())
    assert metadata == {
        "ResourceArn": describe(sm, "nb-basic")["NotebookInstanceArn"],
        "ResourceName": "nb-basic",
    }
    assert moves(host, "nb-basic")[-2:] == [("Stopped", "Pending"), ("Pending", "InService")]
    assert "hook says hello" in host.hook_log("nb-basic")
    assert on_start_lines(twin_and_host[0], "nb-basic") == ["hook says hello"]


def test_background_work_outlives_the_hook_until_the_instance_stops_itself(sm, host):
    script = (
        PREAMBLE
        + """
nohup sleep 600 >/dev/null 2>&1 &
nohup bash -c 'while true; do date +%s%N >> "$1/loop.txt"; sleep 0.05; done' _ "$WORK" \
  >/dev/null 2>&1 &
nohup bash -c 'until [ -f "$1/go" ]; do sleep 0.05; done
  aws sagemaker stop-notebook-instance --notebook-instance-name "$2" && echo ok > "$1/stop.txt"' \
  _ "$WORK" "$NAME" > "$WORK/stopper.log" 2>&1 &
echo "work is in the background"
"""
    )
    stopped_instance(sm, host, "nb-self-stop", script)
    # Give the instance's own `aws` call time to exit before its processes end (the default).
    host.config = dataclasses.replace(host.config, stopping_seconds=1.0)
    sm.start_notebook_instance(NotebookInstanceName="nb-self-stop")
    host.wait_for_status("nb-self-stop", "InService")  # so the hook itself has exited

    work = host.sandbox("nb-self-stop").sagemaker_home
    loop_lines = lambda: len((work / "loop.txt").read_text().splitlines())  # noqa: E731
    eventually(lambda: (work / "loop.txt").exists())
    lines_seen = loop_lines()
    eventually(lambda: loop_lines() >= lines_seen + 3)  # it keeps writing after the hook returned
    assert len(host.processes_alive("nb-self-stop")) >= 3

    (work / "go").touch()  # the instance calls StopNotebookInstance on itself
    host.wait_for_status("nb-self-stop", "Stopped", timeout=20)

    assert (work / "stop.txt").read_text() == "ok\n", (work / "stopper.log").read_text()
    assert host.processes_alive("nb-self-stop") == []
    assert moves(host, "nb-self-stop")[-2:] == [("InService", "Stopping"), ("Stopping", "Stopped")]
    assert describe(sm, "nb-self-stop")["NotebookInstanceStatus"] == "Stopped"


def test_stop_while_the_hook_runs_is_refused_like_aws(sm, host):
    script = (
        PREAMBLE
        + """
aws sagemaker stop-notebook-instance --notebook-instance-name "$NAME" || echo "stop refused"
"""
    )
    stopped_instance(sm, host, "nb-early-stop", script)
    sm.start_notebook_instance(NotebookInstanceName="nb-early-stop")
    host.wait_for_status("nb-early-stop", "InService")

    log = host.hook_log("nb-early-stop")
    assert "Status (Pending) not in ([InService]). Unable to transition to (Stopping)" in log
    assert "stop refused" in log


def test_hook_over_the_limit_fails_the_instance_and_ends_its_processes(sm, host):
    host.config = dataclasses.replace(host.config, hook_limit_seconds=1.0)
    script = PREAMBLE + "nohup sleep 600 >/dev/null 2>&1 &\necho slow hook\nsleep 60\n"
    arn = stopped_instance(sm, host, "nb-slow", script)

    sm.start_notebook_instance(NotebookInstanceName="nb-slow")
    host.wait_for_status("nb-slow", "Failed")

    config_arn = sm.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="nb-slow-lc"
    )["NotebookInstanceLifecycleConfigArn"]
    reason = describe(sm, "nb-slow")["FailureReason"]
    assert reason == hook_failed(config_arn, arn, 1.0)
    assert "took longer than 1 second." in reason
    assert host.processes_alive("nb-slow") == []
    assert host.transitions[-1].to_status == "Failed"
    assert host.transitions[-1].reason == "OnStart hook ran past 1 s"


def test_default_hook_limit_is_aws_five_minutes(tmp_path: Path):
    assert NotebookHostConfig(sandbox_root=tmp_path).hook_limit_seconds == 300.0
    assert hook_failed("LC-ARN", "NB-ARN", 300.0) == (
        "Notebook Instance Lifecycle Config 'LC-ARN' for Notebook Instance 'NB-ARN' took longer "
        "than 5 minutes. Please check your CloudWatch logs for more details if your Notebook "
        "Instance has Internet access."
    )


def test_hook_exiting_non_zero_fails_the_instance_and_its_log_says_why(sm, host, twin_and_host):
    script = (
        PREAMBLE + "nohup sleep 600 >/dev/null 2>&1 &\necho 'cannot find the corpus' >&2\nexit 1\n"
    )
    arn = stopped_instance(sm, host, "nb-broken", script)

    sm.start_notebook_instance(NotebookInstanceName="nb-broken")
    host.wait_for_status("nb-broken", "Failed")

    config_arn = arn.replace(":notebook-instance/nb-broken", ":notebook-instance-lifecycle-config/")
    assert describe(sm, "nb-broken")["FailureReason"] == hook_failed(
        config_arn + "nb-broken-lc", arn, 20.0
    )
    assert host.transitions[-1].reason == "OnStart hook exited with status 1"
    assert on_start_lines(twin_and_host[0], "nb-broken")[-1] == "cannot find the corpus"
    assert host.processes_alive("nb-broken") == []
    listed = sm.list_notebook_instances()["NotebookInstances"]
    assert [(i["NotebookInstanceName"], i["NotebookInstanceStatus"]) for i in listed] == [
        ("nb-broken", "Failed")
    ]
    # A Failed instance can be started again, as in AWS.
    sm.start_notebook_instance(NotebookInstanceName="nb-broken")
    host.wait_for_status("nb-broken", "Failed")


@pytest.mark.parametrize(
    ("config", "content", "reason"),
    [
        ("ghost-lc", None, "Notebook Instance Lifecycle Config does not exist."),
        ("garbled-lc", "not base64!", "is not base64"),
    ],
)
def test_an_unusable_lifecycle_config_fails_the_start(sm, host, config, content, reason):
    stopped_instance(sm, host, "nb-unusable")
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=config, OnStart=[{"Content": content or "dHJ1ZQo="}]
    )
    sm.update_notebook_instance(NotebookInstanceName="nb-unusable", LifecycleConfigName=config)
    host.wait_for_status("nb-unusable", "Stopped")
    if content is None:  # deleted while attached
        sm.delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=config)

    sm.start_notebook_instance(NotebookInstanceName="nb-unusable")
    host.wait_for_status("nb-unusable", "Failed")

    assert reason in describe(sm, "nb-unusable")["FailureReason"]
    assert (
        f"notebook-instance-lifecycle-config/{config}"
        in describe(sm, "nb-unusable")["FailureReason"]
    )


def test_crlf_line_endings_fail_as_on_a_real_instance(sm, host):
    """aws-samples/amazon-sagemaker-notebook-instance-lifecycle-config-samples#86: "/bin/bash:
    /tmp/OnStart_2022-05-05-21-43705z8lmx: /bin/bash^M: bad interpreter", and the instance
    Failed with the "took longer than 5 minutes" sentence."""
    arn = stopped_instance(sm, host, "nb-crlf", "#!/bin/bash\r\necho hello\r\n")

    sm.start_notebook_instance(NotebookInstanceName="nb-crlf")
    host.wait_for_status("nb-crlf", "Failed")

    # "#!/bin/bash\r" names no interpreter; bash words it per version ("bad interpreter",
    # "cannot execute: required file not found"), naming the script file as AWS's logs do.
    log = host.hook_log("nb-crlf")
    assert re.search(r"/tmp/OnStart_\d{4}-\d\d-\d\d-\d\d-\d\d[a-z0-9]{8}: ", log), log
    assert describe(sm, "nb-crlf")["FailureReason"].endswith(
        f"for Notebook Instance '{arn}' took longer than 20 seconds. Please check your CloudWatch "
        "logs for more details if your Notebook Instance has Internet access."
    )


def test_watchdog_stops_an_instance_that_runs_too_long(sm, host):
    host.config = dataclasses.replace(host.config, max_run_seconds=1.0)
    stopped_instance(sm, host, "nb-forever", PREAMBLE + "nohup sleep 600 >/dev/null 2>&1 &\n")

    sm.start_notebook_instance(NotebookInstanceName="nb-forever")
    host.wait_for_status("nb-forever", "InService")
    assert host.processes_alive("nb-forever")
    host.wait_for_status("nb-forever", "Stopped", timeout=10)

    stopping = [t for t in host.transitions if t.instance == "nb-forever"][-2]
    assert (stopping.from_status, stopping.to_status) == ("InService", "Stopping")
    assert stopping.reason == "watchdog: ran past max_run_seconds=1"
    assert host.processes_alive("nb-forever") == []


def test_start_and_stop_refuse_the_wrong_status_with_aws_messages(sm, host):
    arn = sm.create_notebook_instance(
        NotebookInstanceName="nb-busy", InstanceType="ml.t3.medium", RoleArn=ROLE_ARN
    )["NotebookInstanceArn"]
    host.wait_for_status("nb-busy", "InService")

    with pytest.raises(ClientError) as refused:
        sm.start_notebook_instance(NotebookInstanceName="nb-busy")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        "Status (InService) not in ([Stopped, Failed]). Unable to transition to (Pending) "
        f"for Notebook Instance ({arn})"
    )

    sm.stop_notebook_instance(NotebookInstanceName="nb-busy")
    host.wait_for_status("nb-busy", "Stopped")
    with pytest.raises(ClientError) as refused:
        sm.stop_notebook_instance(NotebookInstanceName="nb-busy")
    assert refused.value.response["Error"]["Message"] == (
        "Status (Stopped) not in ([InService]). Unable to transition to (Stopping) "
        f"for Notebook Instance ({arn})"
    )


def test_list_notebook_instance_lifecycle_configs(sm, host):
    for name in ("alpha-lc", "beta-lc", "gamma-other"):
        sm.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name, OnStart=[{"Content": encoded("true\n")}]
        )

    def names(**params) -> list[str]:
        listed = sm.list_notebook_instance_lifecycle_configs(**params)
        return [
            c["NotebookInstanceLifecycleConfigName"]
            for c in listed["NotebookInstanceLifecycleConfigs"]
        ]

    assert names() == ["alpha-lc", "beta-lc", "gamma-other"]  # CreationTime, ascending
    assert names(NameContains="-lc") == ["alpha-lc", "beta-lc"]
    assert names(SortBy="Name", SortOrder="Descending") == ["gamma-other", "beta-lc", "alpha-lc"]

    first = sm.list_notebook_instance_lifecycle_configs(MaxResults=2)
    rest = sm.list_notebook_instance_lifecycle_configs(MaxResults=2, NextToken=first["NextToken"])
    assert [
        c["NotebookInstanceLifecycleConfigName"] for c in first["NotebookInstanceLifecycleConfigs"]
    ] == ["alpha-lc", "beta-lc"]
    assert [
        c["NotebookInstanceLifecycleConfigName"] for c in rest["NotebookInstanceLifecycleConfigs"]
    ] == ["gamma-other"]
    assert "NextToken" not in rest
    summary = first["NotebookInstanceLifecycleConfigs"][0]
    assert summary["NotebookInstanceLifecycleConfigArn"].endswith(
        ":notebook-instance-lifecycle-config/alpha-lc"
    )
    assert summary["CreationTime"] <= summary["LastModifiedTime"]


def test_update_notebook_instance_attaches_a_lifecycle_config(sm, host):
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="repaired-lc",
        OnStart=[{"Content": encoded(PREAMBLE + 'echo "$NAME" > "$WORK/attached.txt"\n')}],
    )
    sm.create_notebook_instance(
        NotebookInstanceName="nb-repair", InstanceType="ml.t3.medium", RoleArn=ROLE_ARN
    )
    with pytest.raises(ClientError) as refused:
        sm.update_notebook_instance(
            NotebookInstanceName="nb-repair", LifecycleConfigName="repaired-lc"
        )
    assert "Unable to transition to (Updating)" in refused.value.response["Error"]["Message"]

    host.wait_for_status("nb-repair", "InService")
    sm.stop_notebook_instance(NotebookInstanceName="nb-repair")
    host.wait_for_status("nb-repair", "Stopped")
    with pytest.raises(ClientError) as missing:
        sm.update_notebook_instance(NotebookInstanceName="nb-repair", LifecycleConfigName="nope")
    assert "does not exist" in missing.value.response["Error"]["Message"]

    sm.update_notebook_instance(NotebookInstanceName="nb-repair", LifecycleConfigName="repaired-lc")
    assert describe(sm, "nb-repair")["NotebookInstanceStatus"] == "Updating"
    host.wait_for_status("nb-repair", "Stopped")
    assert describe(sm, "nb-repair")["NotebookInstanceLifecycleConfigName"] == "repaired-lc"

    sm.start_notebook_instance(NotebookInstanceName="nb-repair")
    host.wait_for_status("nb-repair", "InService")
    attached = host.sandbox("nb-repair").sagemaker_home / "attached.txt"
    assert attached.read_text() == "nb-repair\n"

    sm.stop_notebook_instance(NotebookInstanceName="nb-repair")
    host.wait_for_status("nb-repair", "Stopped")
    sm.update_notebook_instance(NotebookInstanceName="nb-repair", DisassociateLifecycleConfig=True)
    host.wait_for_status("nb-repair", "Stopped")
    assert "NotebookInstanceLifecycleConfigName" not in describe(sm, "nb-repair")


def test_reset_ends_every_process_and_forgets_the_records(sm, host):
    stopped_instance(sm, host, "nb-reset", PREAMBLE + "nohup sleep 600 >/dev/null 2>&1 &\n")
    sm.start_notebook_instance(NotebookInstanceName="nb-reset")
    host.wait_for_status("nb-reset", "InService")
    pids = host.processes_alive("nb-reset")
    assert pids

    host.reset()

    assert host.transitions == []
    assert not host.sandbox("nb-reset").root.exists()
    assert [pid for pid in pids if _running(pid)] == []


def test_cloudformation_deletes_a_running_instance(sm, host, twin_and_host):
    cfn = twin_and_host[0].client("cloudformation")
    template = {
        "Resources": {
            "Notebook": {
                "Type": "AWS::SageMaker::NotebookInstance",
                "Properties": {"InstanceType": "ml.t3.medium", "RoleArn": ROLE_ARN},
            }
        }
    }
    stack_id = cfn.create_stack(StackName="nb-stack", TemplateBody=json.dumps(template))["StackId"]
    [instance] = sm.list_notebook_instances()["NotebookInstances"]
    # The generated name (no NotebookInstanceName) has capitals; the ARN lowercases them.
    assert instance["NotebookInstanceArn"] == instance["NotebookInstanceArn"].lower()
    assert instance["NotebookInstanceName"] != instance["NotebookInstanceName"].lower()
    host.wait_for_status(instance["NotebookInstanceName"], "InService")

    cfn.delete_stack(StackName="nb-stack")

    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert sm.list_notebook_instances()["NotebookInstances"] == []


def test_cloudformation_updates_and_deletes_a_lifecycle_configuration_by_its_arn(
    sm, host, twin_and_host
):
    """The configuration's physical id is its ARN (CloudFormation template reference,
    AWS::SageMaker::NotebookInstanceLifecycleConfig, Return values: "Ref returns the Amazon
    Resource Name (ARN)"), whose name SageMaker lowercases, so a name with capitals is not found
    by splitting the ARN (moto's way). The declared name keeps the stack's capitals."""
    cfn = twin_and_host[0].client("cloudformation")

    def template(script: str) -> str:
        config = {
            "Type": "AWS::SageMaker::NotebookInstanceLifecycleConfig",
            "Properties": {
                "NotebookInstanceLifecycleConfigName": {"Fn::Sub": "${AWS::StackName}-on-start"},
                "OnStart": [{"Content": {"Fn::Base64": script}}],
            },
        }
        return json.dumps({"Resources": {"OnStartConfig": config}})

    stack_id = cfn.create_stack(StackName="Nb-Config", TemplateBody=template("echo one\n"))[
        "StackId"
    ]
    [config] = sm.list_notebook_instance_lifecycle_configs()["NotebookInstanceLifecycleConfigs"]
    name = config["NotebookInstanceLifecycleConfigName"]
    assert name == "Nb-Config-on-start"
    assert config["NotebookInstanceLifecycleConfigArn"].endswith("/" + name.lower())

    cfn.update_stack(StackName="Nb-Config", TemplateBody=template("echo two\n"))
    [hook] = sm.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name
    )["OnStart"]
    assert base64.b64decode(hook["Content"]) == b"echo two\n"

    cfn.delete_stack(StackName="Nb-Config")

    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    listed = sm.list_notebook_instance_lifecycle_configs()["NotebookInstanceLifecycleConfigs"]
    assert listed == []


def test_cloudformation_creates_the_declared_instance_and_runs_its_hooks(sm, host, twin_and_host):
    """CloudFormation creates AWS::SageMaker::NotebookInstance under its NotebookInstanceName with
    every declared property, and the lifecycle configuration under its
    NotebookInstanceLifecycleConfigName (CloudFormation template reference for both types; moto
    5.2.5 generates both names and drops all but InstanceType and RoleArn, so the configuration
    was never attached). The instance boots as CreateNotebookInstance's does: Pending, then its
    OnStart runs, then InService."""
    cfn = twin_and_host[0].client("cloudformation")
    resources = {
        "Config": {
            "Type": "AWS::SageMaker::NotebookInstanceLifecycleConfig",
            "Properties": {
                "NotebookInstanceLifecycleConfigName": {"Fn::Sub": "${AWS::StackName}-on-start"},
                "OnStart": [{"Content": {"Fn::Base64": "echo started by cloudformation\n"}}],
            },
        },
        "Instance": {
            "Type": "AWS::SageMaker::NotebookInstance",
            "Properties": {
                "NotebookInstanceName": {"Fn::Sub": "${AWS::StackName}-notebook"},
                "InstanceType": "ml.t3.medium",
                "RoleArn": ROLE_ARN,
                "LifecycleConfigName": {
                    "Fn::GetAtt": ["Config", "NotebookInstanceLifecycleConfigName"]
                },
                "DirectInternetAccess": "Enabled",
                "RootAccess": "Disabled",
                "VolumeSizeInGB": 7,
                "PlatformIdentifier": "notebook-al2023-v1",
                "InstanceMetadataServiceConfiguration": {
                    "MinimumInstanceMetadataServiceVersion": "2"
                },
            },
        },
    }
    cfn.create_stack(StackName="Nb-Cfn", TemplateBody=json.dumps({"Resources": resources}))

    host.wait_for_status("Nb-Cfn-notebook", "InService", timeout=60)
    described = sm.describe_notebook_instance(NotebookInstanceName="Nb-Cfn-notebook")
    assert described["NotebookInstanceLifecycleConfigName"] == "Nb-Cfn-on-start"
    assert (described["RootAccess"], described["VolumeSizeInGB"]) == ("Disabled", 7)
    assert described["PlatformIdentifier"] == "notebook-al2023-v1"
    assert described["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": "2"
    }
    assert "started by cloudformation" in host.hook_log("Nb-Cfn-notebook")
    [listed] = sm.list_notebook_instances()["NotebookInstances"]
    assert listed["NotebookInstanceName"] == "Nb-Cfn-notebook"  # no second, generated one
    sm.stop_notebook_instance(NotebookInstanceName="Nb-Cfn-notebook")
    host.wait_for_status("Nb-Cfn-notebook", "Stopped")
    cfn.delete_stack(StackName="Nb-Cfn")
    assert sm.list_notebook_instances()["NotebookInstances"] == []


def test_hooks_longer_than_aws_allows_are_refused(sm, host):
    with pytest.raises(ClientError) as refused:
        sm.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName="too-long", OnStart=[{"Content": "A" * 16388}]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 16384" in refused.value.response["Error"]["Message"]


def test_wait_for_status_names_the_status_it_saw(sm, host):
    stopped_instance(sm, host, "nb-idle")
    with pytest.raises(NotebookHostTimeout, match="'nb-idle' is Stopped, not InService"):
        host.wait_for_status("nb-idle", "InService", timeout=0.2)


def test_an_error_inside_the_host_fails_the_instance_and_is_reported(
    sm, host, twin_and_host, tmp_path: Path
):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    stopped_instance(sm, host, "nb-unhostable", PREAMBLE)
    host.config = dataclasses.replace(host.config, sandbox_root=not_a_folder)

    sm.start_notebook_instance(NotebookInstanceName="nb-unhostable")
    host.wait_for_status("nb-unhostable", "Failed")

    assert describe(sm, "nb-unhostable")["FailureReason"].startswith(
        "The twin's notebook host failed: "
    )
    error = twin_and_host[0].errors[-1]
    assert (error.part, error.context) == ("sagemaker", {"instance": "nb-unhostable"})
    assert "NotADirectoryError" in error.message


def test_platform_and_imds_settings_are_kept_checked_and_defaulted(sm, host):
    """botocore's model: PlatformIdentifier matches (notebook-al1-v1|...|notebook-al2023-v1|...)
    and defaults to notebook-al2023-v1; MinimumInstanceMetadataServiceVersion is 1 or 2 and
    defaults to IMDSv1. moto 5.2.5 drops both settings."""
    sm.create_notebook_instance(
        NotebookInstanceName="nb-pinned",
        InstanceType="ml.t3.medium",
        RoleArn=ROLE_ARN,
        PlatformIdentifier="notebook-al2023-v1",
        InstanceMetadataServiceConfiguration={"MinimumInstanceMetadataServiceVersion": "2"},
    )
    pinned = describe(sm, "nb-pinned")
    assert pinned["PlatformIdentifier"] == "notebook-al2023-v1"
    assert pinned["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": "2"
    }
    sm.create_notebook_instance(
        NotebookInstanceName="nb-defaults", InstanceType="ml.t3.medium", RoleArn=ROLE_ARN
    )
    defaults = describe(sm, "nb-defaults")
    assert defaults["PlatformIdentifier"] == "notebook-al2023-v1"
    assert defaults["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": "1"
    }
    with pytest.raises(ClientError, match=r"notebook-al2025-v9.*platformIdentifier"):
        sm.create_notebook_instance(
            NotebookInstanceName="nb-bad",
            InstanceType="ml.t3.medium",
            RoleArn=ROLE_ARN,
            PlatformIdentifier="notebook-al2025-v9",
        )
    with pytest.raises(ClientError, match="minimumInstanceMetadataServiceVersion"):
        sm.create_notebook_instance(
            NotebookInstanceName="nb-bad",
            InstanceType="ml.t3.medium",
            RoleArn=ROLE_ARN,
            InstanceMetadataServiceConfiguration={"MinimumInstanceMetadataServiceVersion": "3"},
        )
    names = {i["NotebookInstanceName"] for i in sm.list_notebook_instances()["NotebookInstances"]}
    assert "nb-bad" not in names


def test_uninstall_gives_moto_back_its_own_sagemaker(host):
    host.uninstall()
    try:
        assert SageMakerModelBackend.start_notebook_instance.__module__ == "moto.sagemaker.models"
        assert SageMakerModelBackend.create_notebook_instance.__module__ == "moto.sagemaker.models"
        assert FakeSagemakerNotebookInstance.to_dict.__module__ == "moto.sagemaker.models"
        assert not hasattr(SageMakerModelBackend, "list_notebook_instance_lifecycle_configs")
        assert not hasattr(SageMakerResponse, "update_notebook_instance")
        assert SageMakerResponse.create_notebook_instance.__module__ == "moto.sagemaker.responses"
    finally:
        host.install()
    assert SageMakerModelBackend.start_notebook_instance.__module__.startswith("emulation.")


def eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {timeout:g} s")
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"
