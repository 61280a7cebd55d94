"""The twin's notebook instances against AWS's documented behaviour: one test per row of issue
11's table (docs/fidelity.md maps every row to its test).

Each test names its AWS source. Where AWS's exact message is public it is asserted verbatim.
The twin runs with IAM enforced (hooks hold the instance role's session) and short delays.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import nbformat
import pytest
from botocore.exceptions import ClientError

from emulation.core.build import TwinConfig, build_twin
from emulation.core.errors import TwinConfigError
from emulation.core.twin import Twin
from emulation.sagemaker import machine
from emulation.sagemaker.notebook_host import NotebookHost
from tests.conftest import quick_notebooks, unrestricted_role

PROJECT = Path(__file__).resolve().parents[3]
ON_DISK_PYTHON = "/home/ec2-user/anaconda3/envs/python3/bin/python"
LOG_GROUP = "/aws/sagemaker/NotebookInstances"
# The original guide's lifecycle script, verbatim (/work/shared/seed/AWS-Transcribe.md).
GUIDE = """#!/bin/bash
set -e

# OVERVIEW
# This script executes an existing Notebook file on the instance during start using nbconvert(https://github.com/jupyter/nbconvert)

# PARAMETERS

ENVIRONMENT=python3
NOTEBOOK_FILE=/home/ec2-user/SageMaker/runme.ipynb

source /home/ec2-user/anaconda3/bin/activate "$ENVIRONMENT"

jupyter nbconvert "$NOTEBOOK_FILE" --ExecutePreprocessor.kernel_name=python --execute

source /home/ec2-user/anaconda3/bin/deactivate

ipython kernel install --user --name=python3
"""
CLOUDWATCH_HINT = (
    "Please check your CloudWatch logs for more details if your Notebook Instance has "
    "Internet access."
)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    config = quick_notebooks(
        tmp_path_factory.mktemp("notebooks"),
        hook_limit_seconds=30.0,
        stopping_seconds=0.1,
        updating_seconds=0.05,
    )
    twin = build_twin(TwinConfig(parts=("iam", "sagemaker"), sagemaker=config)).start()
    yield twin
    twin.stop()


@dataclasses.dataclass
class Aws:
    """The twin as a test uses it: SageMaker, the host, a role SageMaker may assume."""

    twin: Twin
    role: str

    @property
    def sm(self) -> Any:
        return self.twin.client("sagemaker")

    @property
    def host(self) -> NotebookHost:
        return self.twin.part(NotebookHost)

    def configure(self, **settings: Any) -> None:
        self.host.config = dataclasses.replace(self.host.config, **settings)

    def config(self, name: str, on_start: str | None = None, on_create: str | None = None) -> str:
        hooks: dict[str, Any] = {}
        if on_start is not None:
            hooks["OnStart"] = [{"Content": base64.b64encode(on_start.encode()).decode()}]
        if on_create is not None:
            hooks["OnCreate"] = [{"Content": base64.b64encode(on_create.encode()).decode()}]
        return self.sm.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name, **hooks
        )["NotebookInstanceLifecycleConfigArn"]

    def create(self, name: str, config: str | None = None, **settings: Any) -> str:
        if config is not None:
            settings["LifecycleConfigName"] = config
        return self.sm.create_notebook_instance(
            NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=self.role, **settings
        )["NotebookInstanceArn"]

    def describe(self, name: str) -> dict[str, Any]:
        described = self.sm.describe_notebook_instance(NotebookInstanceName=name)
        described.pop("ResponseMetadata")
        return described

    def status(self, name: str) -> str:
        return self.describe(name)["NotebookInstanceStatus"]

    def wait(self, name: str, status: str) -> None:
        self.host.wait_for_status(name, status, timeout=120)

    def stop(self, name: str) -> None:
        self.sm.stop_notebook_instance(NotebookInstanceName=name)
        self.wait(name, "Stopped")

    def start(self, name: str, status: str = "InService") -> None:
        self.sm.start_notebook_instance(NotebookInstanceName=name)
        self.wait(name, status)

    def volume(self, name: str) -> Path:
        return self.host.sandbox(name).sagemaker_home

    def log_stream(self, name: str, hook: str) -> list[str]:
        events = self.twin.client("logs").get_log_events(
            logGroupName=LOG_GROUP, logStreamName=f"{name}/LifecycleConfig{hook}"
        )["events"]
        return [event["message"] for event in events]

    def moves(self, name: str) -> list[tuple[str, str]]:
        return [(t.from_status, t.to_status) for t in self.host.transitions if t.instance == name]


@pytest.fixture
def aws(started: Twin) -> Iterator[Aws]:
    started.reset()
    host = started.part(NotebookHost)
    base = host.config
    yield Aws(started, unrestricted_role(started, "notebook", "sagemaker.amazonaws.com"))
    host.config = base


def needs_namespace(aws: Aws) -> None:
    if not aws.host.isolation().namespaced:
        pytest.skip(f"no namespace here: {aws.host.isolation().reason}")


def failure_reason(config_arn: str, instance_arn: str, limit: str) -> str:
    return (
        f"Notebook Instance Lifecycle Config '{config_arn}' for Notebook Instance "
        f"'{instance_arn}' took longer than {limit}. {CLOUDWATCH_HINT}"
    )


# ------------------------------------------------------------------ CreateNotebookInstance
def test_create_runs_on_create_then_on_start_on_one_machine_before_in_service(aws: Aws) -> None:
    """CreateNotebookInstance: Pending, OnCreate, then OnStart, then InService; both hooks run on
    the same machine (what OnCreate leaves in /tmp, OnStart finds).

    Source: API reference, CreateNotebookInstanceLifecycleConfig (OnCreate "runs only once, when
    you create a notebook instance"; OnStart "runs every time you start a notebook instance,
    including when you create the notebook instance"); DescribeNotebookInstance's statuses.
    """
    config = aws.config(
        "order",
        on_create="#!/bin/bash\nset -e\necho made > /tmp/on-create\necho 'OnCreate ran'\n",
        on_start=(
            "#!/bin/bash\nset -e\n"
            'echo "$(cat /tmp/on-create 2>/dev/null || echo none) then start" '
            '>> "${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}/order.txt"\n'
            "echo 'OnStart ran'\n"
        ),
    )
    aws.create("nb-order", "order")

    assert aws.status("nb-order") == "Pending"
    aws.wait("nb-order", "InService")

    assert (aws.volume("nb-order") / "order.txt").read_text() == "made then start\n"
    assert aws.moves("nb-order") == [("", "Pending"), ("Pending", "InService")]
    assert aws.log_stream("nb-order", "OnCreate") == ["OnCreate ran"]
    assert aws.log_stream("nb-order", "OnStart") == ["OnStart ran"]
    assert config.endswith(":notebook-instance-lifecycle-config/order")


def test_on_create_runs_only_at_creation(aws: Aws) -> None:
    """A start after a stop runs OnStart alone.

    Source: API reference, CreateNotebookInstanceLifecycleConfig.OnCreate ("A shell script that
    runs only once, when you create a notebook instance").
    """
    log = '>> "${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}/hooks.txt"'
    aws.config("once", on_create=f"echo create {log}\n", on_start=f"echo start {log}\n")
    aws.create("nb-once", "once")
    aws.wait("nb-once", "InService")
    aws.stop("nb-once")
    aws.start("nb-once")

    assert (aws.volume("nb-once") / "hooks.txt").read_text().split() == [
        "create",
        "start",
        "start",
    ]


@pytest.mark.parametrize(
    ("on_create", "on_start", "limit", "why"),
    [
        ("echo 'initctl: command not found' >&2\nexit 127\n", "echo never\n", 30.0, "exited"),
        (None, "echo slow\nsleep 60\n", 1.0, "ran past"),
    ],
    ids=["on-create-exits-non-zero", "on-start-past-the-limit"],
)
def test_a_failing_hook_fails_the_create_with_awss_reason(
    aws: Aws, on_create: str | None, on_start: str, limit: float, why: str
) -> None:
    """A hook that exits non-zero or runs past the limit fails the create: the instance is
    Failed, with SageMaker's sentence (the same for both), and can be started again or deleted.

    Source: API reference, NotebookInstanceLifecycleHook ("If a script runs for longer than 5
    minutes, it fails and the notebook instance is not created or started"); the reason, for
    scripts that failed at once: outerbounds/metaflow-tools#28 (OnCreate "initctl: command not
    found", CREATE_FAILED), aws-samples/amazon-sagemaker-optuna-hpo-blog#4 (a failed `cd`),
    aws-samples/amazon-sagemaker-notebook-instance-lifecycle-config-samples#86 (CRLF).
    """
    aws.configure(hook_limit_seconds=limit)
    config_arn = aws.config("fails", on_start=on_start, on_create=on_create)
    arn = aws.create("nb-fails", "fails")
    aws.wait("nb-fails", "Failed")

    words = "1 second" if limit == 1.0 else "30 seconds"
    assert aws.describe("nb-fails")["FailureReason"] == failure_reason(config_arn, arn, words)
    assert why in aws.host.transitions[-1].reason
    if on_create is not None:  # OnStart never ran; OnCreate's words are in its stream
        assert aws.log_stream("nb-fails", "OnCreate") == ["initctl: command not found"]
        assert aws.host.hook_log("nb-fails") == ""
    assert aws.host.processes_alive("nb-fails") == []
    aws.sm.delete_notebook_instance(NotebookInstanceName="nb-fails")  # allowed once Failed


def test_create_refuses_a_role_sagemaker_cannot_assume_and_a_missing_configuration(
    aws: Aws,
) -> None:
    """CreateNotebookInstance checks that SageMaker may assume the role, and that the lifecycle
    configuration exists, before it creates anything.

    Source: API reference, CreateNotebookInstance.RoleArn ("The policy must allow the SageMaker
    AI service principal (sagemaker.amazonaws.com) permissions to assume this role"); the
    sentence is SageMaker's ("Could not assume role ..."). The missing configuration's wording
    is UpdateNotebookInstance's in the twin (AWS's is not public).
    """
    lambda_only = unrestricted_role(aws.twin, "not-for-sagemaker", "lambda.amazonaws.com")
    with pytest.raises(ClientError) as refused:
        aws.sm.create_notebook_instance(
            NotebookInstanceName="nb-role", InstanceType="ml.t3.medium", RoleArn=lambda_only
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        f"Could not assume role {lambda_only}. Please ensure that the role exists and allows "
        "principal 'sagemaker.amazonaws.com' to assume the role."
    )
    with pytest.raises(ClientError, match="Notebook Instance Lifecycle Config does not exist"):
        aws.create("nb-ghost", "no-such-config")
    assert aws.sm.list_notebook_instances()["NotebookInstances"] == []


# ------------------------------------------------------------------ DescribeNotebookInstance
def test_describe_reports_the_models_fields_with_awss_defaults(aws: Aws) -> None:
    """DescribeNotebookInstance answers only members of its output shape, with the defaults
    CreateNotebookInstance documents: RootAccess Enabled, DirectInternetAccess Enabled,
    VolumeSizeInGB 5, PlatformIdentifier notebook-al2023-v1, IMDSv1, IpAddressType ipv4; the
    lifecycle configuration's name; FailureReason only when Failed.

    Source: botocore's model (sagemaker 2017-07-24), DescribeNotebookInstanceOutput and
    CreateNotebookInstanceInput (RootAccess "The default value is Enabled", VolumeSizeInGB "The
    default value is 5 GB", PlatformIdentifier "The default value is notebook-al2023-v1",
    IpAddressType "defaults to ipv4").
    """
    aws.config("plain", on_start="echo hi\n")
    aws.create("nb-plain", "plain")
    aws.wait("nb-plain", "InService")

    described = aws.describe("nb-plain")
    model = botocore.session.get_session().get_service_model("sagemaker")
    output = model.operation_model("DescribeNotebookInstance").output_shape
    assert set(described) <= set(output.members)
    for key, value in described.items():
        enum = getattr(output.members[key], "enum", None)
        if enum:
            assert value in enum, key
    assert {
        key: described[key]
        for key in (
            "RootAccess",
            "DirectInternetAccess",
            "VolumeSizeInGB",
            "PlatformIdentifier",
            "InstanceMetadataServiceConfiguration",
            "IpAddressType",
            "NotebookInstanceLifecycleConfigName",
        )
    } == {
        "RootAccess": "Enabled",
        "DirectInternetAccess": "Enabled",
        "VolumeSizeInGB": 5,
        "PlatformIdentifier": "notebook-al2023-v1",
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "1"},
        "IpAddressType": "ipv4",
        "NotebookInstanceLifecycleConfigName": "plain",
    }
    assert "FailureReason" not in described
    aws.create("nb-set", RootAccess="Disabled", VolumeSizeInGB=20, IpAddressType="dualstack")
    chosen = aws.describe("nb-set")
    assert (chosen["RootAccess"], chosen["VolumeSizeInGB"], chosen["IpAddressType"]) == (
        "Disabled",
        20,
        "dualstack",
    )
    with pytest.raises(ClientError, match="ipAddressType"):
        aws.create("nb-bad", IpAddressType="ipv6")


def test_arns_lowercase_the_names_they_hold(aws: Aws) -> None:
    """SageMaker keeps a name's case but lowercases it in ARNs: notebook instances and
    lifecycle configurations alike.

    Source: aws/amazon-sagemaker-examples#1798 (instance "AKing-Service-Mapping", ARN
    ".../notebook-instance/aking-service-mapping"); outerbounds/metaflow-tools#28
    (CloudFormation-generated names, lowercased in both ARNs of a FailureReason).
    """
    config_arn = aws.config("My-Config", on_start="echo hi\n")
    arn = aws.create("My-Notebook", "My-Config")

    assert arn.endswith(":notebook-instance/my-notebook")
    assert config_arn.endswith(":notebook-instance-lifecycle-config/my-config")
    described = aws.describe("My-Notebook")
    assert (described["NotebookInstanceName"], described["NotebookInstanceArn"]) == (
        "My-Notebook",
        arn,
    )
    assert described["NotebookInstanceLifecycleConfigName"] == "My-Config"
    listed = aws.sm.list_notebook_instance_lifecycle_configs()["NotebookInstanceLifecycleConfigs"]
    assert [c["NotebookInstanceLifecycleConfigArn"] for c in listed] == [config_arn]
    aws.wait("My-Notebook", "InService")
    metadata = json.loads(aws.host.sandbox("My-Notebook").metadata_file.read_text())
    assert metadata == {"ResourceArn": arn, "ResourceName": "My-Notebook"}


def test_tags_find_an_instance_by_its_lowercased_arn(aws: Aws) -> None:
    """AddTags, ListTags and DeleteTags take the ARN SageMaker answered, whose name is
    lowercased, and find the instance whatever the case of its name.

    Source: API reference, AddTags / ListTags / DeleteTags ("ResourceArn: The Amazon Resource
    Name (ARN) of the resource"); CreateNotebookInstance (Tags; the response's
    NotebookInstanceArn).
    """
    arn = aws.create("Tagged-Notebook", Tags=[{"Key": "team", "Value": "asr"}])

    aws.sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "test"}])
    aws.sm.delete_tags(ResourceArn=arn, TagKeys=["team"])

    assert aws.sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "test"}]
    with pytest.raises(ClientError) as missing:
        aws.sm.list_tags(ResourceArn=arn.replace("tagged-notebook", "no-such-notebook"))
    assert missing.value.response["Error"]["Code"] == "ValidationException"


# ------------------------------------------------------------------ what a hook sees
def test_hooks_run_as_root_from_slash_with_awss_path_and_paths(aws: Aws) -> None:
    """A hook runs as root, from "/", with PATH /sbin:bin:/usr/sbin:/usr/bin, and finds
    /home/ec2-user/SageMaker (the instance's volume), the python3 conda environment, `aws` and
    /opt/ml/metadata/resource-metadata.json; /home holds ec2-user alone. Nothing is written on
    the host outside the sandbox.

    Source: API reference, NotebookInstanceLifecycleHook ("The value of the $PATH environment
    variable that is available to both scripts is /sbin:bin:/usr/sbin:/usr/bin"); developer
    guide, "Lifecycle Configuration Best Practices" ("Lifecycle configurations run as the root
    user", /home/ec2-user/SageMaker, `source activate python3`); the metadata file as AWS's
    samples read it (aws-samples/amazon-sagemaker-notebook-instance-lifecycle-config-samples,
    auto-stop-idle).
    """
    needs_namespace(aws)
    host_home = sorted(os.listdir("/home"))
    host_opt_ml = sorted(os.listdir("/opt/ml")) if os.path.isdir("/opt/ml") else None
    script = f"""#!/bin/bash
set -euo pipefail
{{
  echo "user=$(id -un) cwd=$PWD path=$PATH home=$HOME"
  echo "home=$(ls /home)"
  echo "python=$({ON_DISK_PYTHON} -c 'import sys; print(sys.prefix)')"
  echo "aws=$(command -v aws)"
  echo "metadata=$(cat /opt/ml/metadata/resource-metadata.json)"
  echo "sagemaker_home=${{SAGEMAKER_HOME:-unset}}"
}} > /home/ec2-user/SageMaker/seen.txt
"""
    aws.config("paths", on_start=script)
    arn = aws.create("nb-paths", "paths")
    aws.wait("nb-paths", "InService")

    seen = dict(
        line.split("=", 1)
        for line in (aws.volume("nb-paths") / "seen.txt").read_text().splitlines()
        if not line.startswith("user=")
    )
    first = (aws.volume("nb-paths") / "seen.txt").read_text().splitlines()[0]
    assert first == "user=root cwd=/ path=/sbin:bin:/usr/sbin:/usr/bin home=/root"
    assert seen["home"] == "ec2-user"
    assert seen["python"] == "/home/ec2-user/anaconda3/envs/python3"
    assert seen["aws"] == "/usr/bin/aws"
    assert json.loads(seen["metadata"]) == {"ResourceArn": arn, "ResourceName": "nb-paths"}
    assert seen["sagemaker_home"] == "unset"
    assert sorted(os.listdir("/home")) == host_home
    if host_opt_ml is not None:
        assert sorted(os.listdir("/opt/ml")) == host_opt_ml


def test_only_the_volume_persists_from_one_start_to_the_next(aws: Aws) -> None:
    """A stop ends the machine: at the next start, only /home/ec2-user/SageMaker holds what
    the last start wrote; the conda environments, the home folder, /tmp and /root are new.

    Source: developer guide, "External library and kernel installation" (environments are
    refreshed at every stop and start; only /home/ec2-user/SageMaker persists); API reference,
    StopNotebookInstance ("SageMaker AI preserves the ML storage volume").
    """
    needs_namespace(aws)
    script = """#!/bin/bash
set -eu
ls /home/ec2-user/SageMaker /home/ec2-user/anaconda3/envs/python3 /home/ec2-user /tmp /root \\
  > /home/ec2-user/SageMaker/listing-$(date +%s%N).txt 2>&1 || true
touch /home/ec2-user/SageMaker/kept /home/ec2-user/gone /tmp/gone /root/gone
touch /home/ec2-user/anaconda3/envs/python3/gone 2>/dev/null || true
"""
    aws.config("persist", on_start=script)
    aws.create("nb-persist", "persist")
    aws.wait("nb-persist", "InService")
    aws.stop("nb-persist")
    aws.start("nb-persist")

    listings = sorted(aws.volume("nb-persist").glob("listing-*.txt"))
    second = listings[-1].read_text()
    assert "kept" in second
    assert "gone" not in second.replace("/home/ec2-user/SageMaker", "")
    assert not (Path(aws.host.config.python_bin_dir).parent / "gone").exists()


def test_scripts_switch_to_ec2_user_as_awss_samples_do(aws: Aws) -> None:
    """`sudo -u ec2-user -i` gives ec2-user's login shell: HOME /home/ec2-user, the volume
    writable, `source activate python3`; what it starts ends when the instance stops.

    Source: developer guide, "Lifecycle Configuration Best Practices" ("use the command sudo -u
    ec2-user to run as the ec2-user user. This is the same user that Amazon SageMaker runs as";
    its example: sudo -u ec2-user -i <<EOF ... source activate python3 ... EOF).
    """
    needs_namespace(aws)
    if not aws.host.isolation().ec2_user:
        pytest.skip(f"no ec2-user here: {aws.host.isolation().reason}")
    script = """#!/bin/bash
set -e
sudo -u ec2-user -i <<'EOF'
source activate python3
echo "$(id -un) $HOME $(command -v python)" > /home/ec2-user/SageMaker/whoami.txt
nohup sleep 600 >/dev/null 2>&1 &
EOF
"""
    aws.config("user", on_start=script)
    aws.create("nb-user", "user")
    aws.wait("nb-user", "InService")

    whoami = aws.volume("nb-user") / "whoami.txt"
    assert whoami.read_text() == (
        "ec2-user /home/ec2-user /home/ec2-user/anaconda3/envs/python3/bin/python\n"
    )
    assert whoami.stat().st_uid == aws.volume("nb-user").stat().st_uid != 0
    assert aws.host.processes_alive("nb-user")  # the sleep, outside the hook's session
    aws.stop("nb-user")
    assert aws.host.processes_alive("nb-user") == []


@pytest.mark.parametrize("mode", [machine.USER_NAMESPACE, machine.ENVIRONMENT])
def test_without_root_hooks_still_find_the_instances_paths(aws: Aws, mode: str) -> None:
    """Where the twin is not root, a user namespace gives hooks the same paths (as root, with
    no ec2-user); without any namespace, SAGEMAKER_HOME and NOTEBOOK_METADATA_FILE point into
    the sandbox and the twin says so once in its log.

    Source: as test_hooks_run_as_root_from_slash_with_awss_path_and_paths (the paths AWS gives
    a hook); the fallback is the twin's own (docs/fidelity.md).
    """
    try:
        isolation = machine.resolve(mode, aws.host.config.python_bin_dir)
    except TwinConfigError as error:  # a host without user namespaces
        pytest.skip(str(error))
    aws.configure(machine=mode)
    script = """#!/bin/bash
set -eu
home="${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}"
meta="${NOTEBOOK_METADATA_FILE:-/opt/ml/metadata/resource-metadata.json}"
{ id -un; id ec2-user >/dev/null 2>&1 && echo ec2-user || echo no-ec2-user; cat "$meta"; } \\
  > "$home/seen.txt"
"""
    aws.config("modes", on_start=script)
    arn = aws.create("nb-modes", "modes")
    aws.wait("nb-modes", "InService")

    user, ec2_user, metadata = (aws.volume("nb-modes") / "seen.txt").read_text().splitlines()
    assert json.loads(metadata) == {"ResourceArn": arn, "ResourceName": "nb-modes"}
    if mode == machine.USER_NAMESPACE:
        assert (isolation.namespaced, user, ec2_user) == (True, "root", "no-ec2-user")
        assert "with AWS's paths, as root only (no ec2-user)" in isolation.describe()
    else:
        assert not isolation.namespaced
        assert "SAGEMAKER_HOME and NOTEBOOK_METADATA_FILE" in isolation.describe()


def test_the_guides_own_script_runs_as_on_aws_and_a_long_notebook_fails_at_the_limit(
    aws: Aws,
) -> None:
    """The original guide's lifecycle script (AWS's "execute notebook on startup" sample plus a
    kernel install) runs as it would on AWS today, and fails twice over: the python3
    environment's nbconvert (6 and later) wants an output format, as users of AWS's sample
    report; with their fix (`--to notebook`), the notebook runs, then the script's last line
    finds no `ipython` once the environment is deactivated (AWS's PATH holds no conda folder).
    With the kernel install inside the environment it runs; and a notebook that outlasts the
    hook's limit, run in the foreground, fails the start.

    Source: the guide (/work/shared/seed/AWS-Transcribe.md, "SageMaker: Lifecycle
    Configuration"); aws-samples/amazon-sagemaker-notebook-instance-lifecycle-config-samples,
    scripts/execute-notebook-on-startup/on-start.sh and issue #105 ("jupyter nbconvert cmd
    didn't run as expected due to one missing argument", fixed with --to notebook); API
    reference, NotebookInstanceLifecycleHook (the PATH; the 5 minutes, here 8 seconds).
    """
    needs_namespace(aws)
    aws.create("test-notebook-instance")
    volume = aws.volume("test-notebook-instance")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("print(sum(range(10)))")]
    aws.wait("test-notebook-instance", "InService")
    nbformat.write(notebook, volume / "runme.ipynb")  # as the user saves it in Jupyter
    aws.stop("test-notebook-instance")

    def start_with(name: str, script: str, status: str) -> tuple[str, str]:
        """Attach ``script`` as OnStart and start; its config ARN and the hook's log."""
        config_arn = aws.config(name, on_start=script)
        aws.sm.update_notebook_instance(
            NotebookInstanceName="test-notebook-instance", LifecycleConfigName=name
        )
        aws.wait("test-notebook-instance", "Stopped")
        aws.start("test-notebook-instance", status)
        return config_arn, aws.host.hook_log("test-notebook-instance")

    _, log = start_with("test-lifecycle-configuration", GUIDE, "Failed")
    assert "Please specify an output format with '--to <format>'." in log

    with_format = GUIDE.replace(" --execute", " --to notebook --execute")
    _, log = start_with("with-format", with_format, "Failed")
    assert re.search(r"/tmp/OnStart_\S+: line 18: ipython: command not found", log), log
    executed = nbformat.read(volume / "runme.nbconvert.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "45\n"

    deactivate = "source /home/ec2-user/anaconda3/bin/deactivate"
    install = "ipython kernel install --user --name=python3"
    inside = with_format.replace(f"{install}\n", "").replace(deactivate, f"{install}\n{deactivate}")
    config_arn, _ = start_with("fixed", inside, "InService")
    aws.stop("test-notebook-instance")
    notebook.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(600)")]
    nbformat.write(notebook, volume / "runme.ipynb")
    aws.configure(hook_limit_seconds=8.0)
    arn = aws.describe("test-notebook-instance")["NotebookInstanceArn"]
    aws.start("test-notebook-instance", "Failed")

    described = aws.describe("test-notebook-instance")
    assert described["FailureReason"] == failure_reason(config_arn, arn, "8 seconds")
    assert aws.host.transitions[-1].reason == "OnStart hook ran past 8 s"
    # nbconvert had started the notebook, and never wrote its result.
    last = aws.host.hook_log("test-notebook-instance").rsplit("Converting notebook", 1)[1]
    assert last.startswith(" /home/ec2-user/SageMaker/runme.ipynb to notebook")
    assert "Writing" not in last
    assert aws.host.processes_alive("test-notebook-instance") == []


# ------------------------------------------------------------------ Start and Stop
def test_stop_only_from_in_service(aws: Aws) -> None:
    """StopNotebookInstance is accepted only from InService; from Pending, Stopped or Failed it
    is a ValidationException in SageMaker's words.

    Source: aws/amazon-sagemaker-examples#1094 ("Status (Pending) not in ([InService]). Unable
    to transition to (Stopping) for Notebook Instance (arn:...)"), #1798 (from Stopping),
    hashicorp/terraform-provider-aws#16767 (from Failed).
    """
    aws.config("slow-start", on_start="sleep 2\n")
    arn = aws.create("nb-stop", "slow-start")

    def refused() -> str:
        with pytest.raises(ClientError) as error:
            aws.sm.stop_notebook_instance(NotebookInstanceName="nb-stop")
        assert error.value.response["Error"]["Code"] == "ValidationException"
        return str(error.value.response["Error"]["Message"])

    assert refused() == (
        "Status (Pending) not in ([InService]). Unable to transition to (Stopping) for "
        f"Notebook Instance ({arn})"
    )
    aws.wait("nb-stop", "InService")
    aws.stop("nb-stop")
    assert refused().startswith("Status (Stopped) not in ([InService]).")


def test_start_only_from_stopped_or_failed(aws: Aws) -> None:
    """StartNotebookInstance is accepted only from Stopped or Failed.

    Source: aws/amazon-sagemaker-examples#1094 ("Status (Stopping) not in ([Stopped, Failed]).
    Unable to transition to (Pending) for Notebook Instance (arn:...)").
    """
    aws.config("broken", on_start="exit 1\n")
    arn = aws.create("nb-start")
    with pytest.raises(ClientError) as pending:
        aws.sm.start_notebook_instance(NotebookInstanceName="nb-start")
    assert pending.value.response["Error"]["Message"] == (
        "Status (Pending) not in ([Stopped, Failed]). Unable to transition to (Pending) for "
        f"Notebook Instance ({arn})"
    )
    aws.wait("nb-start", "InService")
    with pytest.raises(ClientError, match=r"Status \(InService\) not in \(\[Stopped, Failed\]\)"):
        aws.sm.start_notebook_instance(NotebookInstanceName="nb-start")
    aws.stop("nb-start")
    aws.sm.update_notebook_instance(NotebookInstanceName="nb-start", LifecycleConfigName="broken")
    aws.wait("nb-start", "Stopped")
    aws.start("nb-start", "Failed")
    aws.start("nb-start", "Failed")  # from Failed, accepted (and failing again)


def test_each_hooks_output_goes_to_its_own_log_stream(aws: Aws) -> None:
    """OnCreate's output goes to stream <name>/LifecycleConfigOnCreate, OnStart's to
    <name>/LifecycleConfigOnStart, in log group /aws/sagemaker/NotebookInstances.

    Source: API reference, NotebookInstanceLifecycleHook ("log group /aws/sagemaker/
    NotebookInstances in log stream [notebook-instance-name]/[LifecycleConfigHook]");
    aws-samples/amazon-sagemaker-optuna-hpo-blog#4 (".../optuna-notebook/LifecycleConfigOnCreate").
    """
    aws.config("talk", on_create="echo from create\n", on_start="echo from start\necho again\n")
    aws.create("nb-talk", "talk")
    aws.wait("nb-talk", "InService")
    aws.stop("nb-talk")
    aws.start("nb-talk")

    assert aws.log_stream("nb-talk", "OnCreate") == ["from create"]
    assert aws.log_stream("nb-talk", "OnStart") == ["from start", "again"] * 2
