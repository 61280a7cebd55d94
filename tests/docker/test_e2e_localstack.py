"""The e2e driver with TWIN=localstack, without Docker: what can run here, runs on real moto.

The localstack site routes every service through a client environment, so pointed at the
embedded twin its rule firing runs on moto and the twin's Lambda runtime. The SageMaker repair
is checked with SageMaker in a second AWS (moto's server in its own process) and a stack that
lacks the SageMaker resources, as LocalStack Community deploys it; the outputs fallback with
moto's raw change sets, which report no outputs. Reaching LocalStack and the twin is checked
with stand-ins for LocalStack's health endpoint and the docker CLI.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.progress import SilentReporter
from deploy.repairs import remove_repairs, repair_stack
from deploy.stack import deploy_stack
from deploy.template import load_template
from emulation import cli
from emulation.awslambda.runtime import LambdaRuntime
from emulation.cloudformation.stacks import CloudFormationPart
from emulation.core.backends import (
    LOCALSTACK_SERVICES,
    BackendUnavailable,
    EmbeddedBackend,
    EnvClients,
)
from emulation.core.build import LOCALSTACK_PARTS, TwinConfig, build_twin, config_for_backend
from emulation.core.inspector import Inspector
from emulation.core.server import free_port
from emulation.core.twin import Twin
from emulation.e2e import chain as e2e
from emulation.e2e.sites import EmbeddedSite, LocalStackSite, SiteError
from emulation.sagemaker.config import NotebookHostConfig

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")

ACCOUNT = "123456789012"
RECORDER = "def handler(event, context):\n    return event\n"
DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)
NO_ENGINE = (
    f"TWIN=localstack needs a Docker engine: Docker engine not reachable (docker info: "
    f"{DAEMON_DOWN})"
)


def site_on(twin: Twin) -> LocalStackSite:
    """The localstack site with every service routed to the twin."""
    return LocalStackSite(EmbeddedBackend().client_env(twin.endpoint_url))


def healthy(fake_localstack: Any) -> None:
    fake_localstack.serve(
        dict.fromkeys(LOCALSTACK_SERVICES, "running"), version="4.14.0", edition="community"
    )


# --- firing the schedule ----------------------------------------------------------------------


def test_fire_sends_the_scheduled_event_to_the_rules_lambda_targets(
    twin: Twin, deploy_lambda: Any
) -> None:
    recorder = deploy_lambda("recorder", RECORDER)
    constant = deploy_lambda("constant", RECORDER)
    events = twin.client("events")
    rule_arn = events.put_rule(Name="nightly", ScheduleExpression="cron(0 6 * * ? *)")["RuleArn"]
    events.put_targets(
        Rule="nightly",
        Targets=[
            {"Id": "event", "Arn": recorder},
            {"Id": "input", "Arn": constant, "Input": '{"run": "now"}'},
        ],
    )

    site_on(twin).fire("nightly")
    twin.part(LambdaRuntime).wait_idle(timeout=30)

    [recorded] = Inspector(twin).invocations("recorder")
    assert recorded.invocation_type == "Event"
    assert recorded.error is None
    event = recorded.event
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [rule_arn]
    assert (event["account"], event["region"], event["detail"]) == (ACCOUNT, "us-east-1", {})
    [given] = Inspector(twin).invocations("constant")
    assert given.event == {"run": "now"}


def test_fire_refuses_a_disabled_rule_and_targets_it_cannot_invoke(
    twin: Twin, deploy_lambda: Any
) -> None:
    recorder = deploy_lambda("recorder", RECORDER)
    events, site = twin.client("events"), site_on(twin)
    events.put_rule(Name="off", ScheduleExpression="rate(1 day)", State="DISABLED")
    events.put_targets(Rule="off", Targets=[{"Id": "event", "Arn": recorder}])
    with pytest.raises(SiteError, match="is DISABLED; enable it first"):
        site.fire("off")

    queue = twin.client("sqs").create_queue(QueueName="elsewhere")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:elsewhere"
    assert queue.endswith("/elsewhere")
    events.put_rule(Name="to-sqs", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="to-sqs", Targets=[{"Id": "q", "Arn": queue_arn}])
    with pytest.raises(SiteError, match=f"fires Lambda targets only; targets: {queue_arn}"):
        site.fire("to-sqs")
    assert Inspector(twin).invocations() == []


# --- reaching LocalStack and the twin ---------------------------------------------------------


def test_connect_without_a_docker_engine_says_so_in_one_line(fake_docker: Any) -> None:
    fake_docker(info_exit=1, info_err=DAEMON_DOWN)
    environ = {
        "LOCALSTACK_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "TWIN_PORT": str(free_port()),
    }
    with pytest.raises(BackendUnavailable) as raised:
        LocalStackSite.connect(environ)
    assert str(raised.value) == NO_ENGINE


def test_make_e2e_on_localstack_without_an_engine_stops_with_that_line(
    fake_docker: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    fake_docker(info_exit=1, info_err=DAEMON_DOWN)
    monkeypatch.setenv("TWIN", "localstack")
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", f"http://127.0.0.1:{free_port()}")

    runs = tmp_path / "runs"
    assert cli.main(["e2e", "--runs-dir", str(runs)]) == 2

    captured = capsys.readouterr()
    assert captured.err == f"error: {NO_ENGINE}\n"
    assert captured.out == ""
    assert not runs.exists()  # no summary: nothing ran


def test_connect_names_localstacks_missing_services(fake_localstack: Any) -> None:
    fake_localstack.serve({"s3": "running"}, version="4.14.0")
    with pytest.raises(BackendUnavailable) as raised:
        LocalStackSite.connect({"LOCALSTACK_ENDPOINT": fake_localstack.endpoint})
    message = str(raised.value)
    assert message.startswith(f"TWIN=localstack: LocalStack at {fake_localstack.endpoint} ")
    assert "does not serve cloudformation (absent)" in message
    assert "\n" not in message


def test_connect_names_a_twin_that_does_not_answer(fake_localstack: Any) -> None:
    healthy(fake_localstack)
    port = free_port()
    with pytest.raises(BackendUnavailable) as raised:
        LocalStackSite.connect(
            {"LOCALSTACK_ENDPOINT": fake_localstack.endpoint, "TWIN_PORT": str(port)}
        )
    message = str(raised.value)
    assert message.startswith(
        f"TWIN=localstack: the twin (SageMaker, Transcribe) is not answering at "
        f"http://127.0.0.1:{port} ("
    )
    assert message.endswith("start it with `docker compose up -d --wait`")


def test_connect_routes_each_service_where_it_lives(fake_localstack: Any, twin: Twin) -> None:
    healthy(fake_localstack)
    site = LocalStackSite.connect(
        {
            "LOCALSTACK_ENDPOINT": fake_localstack.endpoint,
            "TWIN_PORT": str(twin.server.port),
            "NOTEBOOK_CONTAINER": "my-instance",
        }
    )
    assert site.description == (
        f"LocalStack 4.14.0 (community) at {fake_localstack.endpoint}; "
        f"the twin at {twin.endpoint_url}"
    )
    endpoints = {s: site.client(s).meta.endpoint_url for s in ("s3", "logs", "events", "lambda")}
    assert endpoints == dict.fromkeys(endpoints, fake_localstack.endpoint)
    assert site.client("sagemaker").meta.endpoint_url == twin.endpoint_url
    assert site.client("transcribe").meta.endpoint_url == twin.endpoint_url
    assert site.container == "my-instance"


# --- deploy: outputs and the SageMaker resources LocalStack skips -------------------------------


def test_outputs_the_stack_does_not_report_are_computed_from_the_template(twin: Twin) -> None:
    part = twin.part(CloudFormationPart)
    part.uninstall()  # moto's own change sets: the stack reports no outputs
    try:
        outputs, computed = e2e.deploy_outputs(EmbeddedSite(twin), "no-outputs", {})
    finally:
        part.install()

    declared = [key for key, spec in load_template()["Outputs"].items() if "Condition" not in spec]
    assert computed == sorted(declared)
    assert outputs["NotebookInstanceName"] == "no-outputs-notebook"
    assert outputs["LifecycleConfigName"] == "no-outputs-on-start"
    assert outputs["MediaBucketName"] == f"no-outputs-media-{ACCOUNT}-us-east-1"
    twin.client("s3").head_bucket(Bucket=outputs["MediaBucketName"])
    topics = [t["TopicArn"] for t in twin.client("sns").list_topics()["Topics"]]
    assert outputs["AlertTopicArn"] in topics
    functions = [f["FunctionName"] for f in twin.client("lambda").list_functions()["Functions"]]
    assert outputs["IngestScoresFunctionName"] in functions


class SageMakerElsewhere:
    """SageMaker from one client environment, every other service from the twin."""

    def __init__(self, twin: Twin, sagemaker_env: dict[str, str]) -> None:
        self.twin, self.elsewhere = twin, EnvClients(sagemaker_env)

    def client(self, service: str, /) -> Any:
        return (
            self.elsewhere.client(service) if service == "sagemaker" else self.twin.client(service)
        )


def test_repair_creates_the_skipped_sagemaker_resources_where_sagemaker_lives(
    twin: Twin, other_aws: dict[str, str], tmp_path: Path
) -> None:
    template = load_template()
    skipped = dict(template, Resources=dict(template["Resources"]))
    del skipped["Resources"]["NotebookLifecycleConfig"], skipped["Resources"]["NotebookInstance"]
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(skipped, sort_keys=False))
    deploy_stack(twin, "skipped", template_path=path, reporter=SilentReporter(), poll_seconds=0.05)
    routed = SageMakerElsewhere(twin, other_aws)

    repairs = repair_stack(routed, "skipped", template=template)

    actions = [(r.logical_id, r.action) for r in repairs if "SageMaker" in r.resource_type]
    assert actions == [
        (
            "NotebookLifecycleConfig",
            "created lifecycle config skipped-on-start (the stack's engine created none)",
        ),
        (
            "NotebookInstance",
            "created notebook instance skipped-notebook with lifecycle config skipped-on-start: "
            "InService",
        ),
    ]
    sagemaker = EnvClients(other_aws).client("sagemaker")
    described = sagemaker.describe_notebook_instance(NotebookInstanceName="skipped-notebook")
    assert described["NotebookInstanceLifecycleConfigName"] == "skipped-on-start"
    assert described["NotebookInstanceStatus"] == "InService"  # as CloudFormation leaves it
    assert described["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/skipped-notebook"
    config = sagemaker.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="skipped-on-start"
    )
    script = base64.b64decode(config["OnStart"][0]["Content"]).decode()
    assert f"export ASR_MEDIA_BUCKET='skipped-media-{ACCOUNT}-us-east-1'" in script
    assert twin.client("sagemaker").list_notebook_instances()["NotebookInstances"] == []

    assert repair_stack(routed, "skipped", template=template) == []
    removed = remove_repairs(routed, "skipped", template=template)
    assert sorted(r.action for r in removed) == [
        "deleted skipped-notebook",
        "deleted skipped-on-start",
    ]


# --- the twin beside LocalStack -----------------------------------------------------------------


def test_twin_beside_localstack_serves_sagemaker_and_transcribe_only(tmp_path: Path) -> None:
    environ = {
        "TWIN": "localstack",
        "LOCALSTACK_ENDPOINT": "http://localstack:4566",
        "NOTEBOOK_CONTAINER": "my-instance",
    }
    sandbox = NotebookHostConfig(sandbox_root=tmp_path)
    config = config_for_backend(TwinConfig(port=free_port(), sagemaker=sandbox), environ=environ)

    assert config.parts == LOCALSTACK_PARTS == ("sagemaker", "transcribe")
    assert (config.sagemaker.runner, config.sagemaker.container) == ("container", "my-instance")
    assert config.sagemaker.sandbox_root == tmp_path
    assert config.sagemaker.stop_grace_seconds == 10  # docker restart -t 10
    routes = EnvClients(config.sagemaker.aws_env)
    assert routes.endpoint("logs") == routes.endpoint("s3") == "http://localstack:4566"
    assert routes.endpoint("sagemaker") == f"http://127.0.0.1:{config.port}"
    assert config.transcribe.aws_env == config.sagemaker.aws_env
    assert set(build_twin(config).parts) == {"sagemaker", "transcribe"}

    embedded = TwinConfig()
    assert config_for_backend(embedded, environ={}) is embedded
