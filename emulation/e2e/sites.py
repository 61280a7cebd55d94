"""Where ``make e2e`` runs the chain (TWIN): the embedded twin, or LocalStack beside the twin.

The chain (``emulation.e2e.chain``) starts the run and follows it through AWS APIs only, so
it is the same on both. A site supplies what differs: its clients (a site has
``client(service)``, like a boto3 Session, so the deploy code takes it as it is), how the
schedule fires, and extras that explain a failure.

    embedded    the in-process twin. Its scheduler fires the rule; its Lambda runtime reports a
                handler's error as soon as the last retry failed; the instance's log is read
                from its sandbox.
    localstack  LocalStack (S3, DynamoDB, SNS, EventBridge, Lambda, SQS, Logs, IAM, STS,
                CloudFormation) and the twin's container (SageMaker, Transcribe), each service
                routed as boto3 routes AWS_ENDPOINT_URL_<SERVICE>. No IAM is enforced there
                (LocalStack Community has none, and the roles live in it). LocalStack cannot fire a
                rule on demand, so the rule's Lambda targets are invoked asynchronously with the
                Scheduled Event EventBridge sends. The hook's output is read from LocalStack's
                CloudWatch Logs (the twin's notebook host writes it there), the run's log from
                the notebook-instance container.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from emulation.awslambda.async_invoke import TwinBusyError
from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.backends import (
    DEFAULT_LOCALSTACK_ENDPOINT,
    EnvClients,
    LocalStackBackend,
    published_twin_endpoint,
    require_localstack,
)
from emulation.core.errors import EmulationError
from emulation.core.inspector import Inspector
from emulation.events.scheduler import Scheduler, scheduled_event, target_input
from emulation.events.schedules import utc_now
from emulation.sagemaker.config import DEFAULT_NOTEBOOK_CONTAINER
from emulation.sagemaker.hooks import ON_CREATE, ON_START
from emulation.sagemaker.notebook_host import LOG_GROUP, ON_START_STREAM, NotebookHost
from pipeline.aws import Clients

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from emulation.core.twin import Twin
    from emulation.iam.authorizer import AccessDenial

# The instance's runs, as lifecycle/on-start.sh lays them out on the instance's home volume.
RUNS_DIR = "/home/ec2-user/SageMaker/asr-monitor/runs"
# Prints the run's log: the one named by $1, else the newest run's.
RUN_LOG_SCRIPT = (
    f'd={RUNS_DIR}; r="${{1:-$(ls -1t "$d" 2>/dev/null | head -n 1)}}"; '
    '[ -n "$r" ] && cat "$d/$r/run.log"'
)
DOCKER_TIMEOUT_SECONDS = 30.0


class SiteError(EmulationError):
    """The site cannot do what the chain asked (fire a rule, read a log), with the reason."""


class Site(Protocol):
    """Where the chain runs: clients per service, firing the schedule, and failure extras."""

    name: str

    def client(self, service: str, /) -> BaseClient: ...

    def fire(self, rule_name: str) -> None:
        """Deliver the rule's Scheduled Event to its targets now."""
        ...

    def lambda_error(self, function_name: str) -> str | None:
        """The function's error once its last retry failed, if the site can tell at once."""
        ...

    def instance_log(self, name: str, run_id: str | None) -> str:
        """The instance's OnStart hook output and the run's log."""
        ...

    def access_denials(self) -> list[AccessDenial]:
        """Requests refused as AWS's IAM would refuse them, oldest first."""
        ...


class EmbeddedSite:
    """The in-process twin (TWIN=embedded)."""

    name = "embedded"

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.clients = Clients(twin)  # one client per service: the chain polls often

    def client(self, service: str, /) -> BaseClient:
        return self.clients(service)

    def fire(self, rule_name: str) -> None:
        self.twin.part(Scheduler).fire(rule_name)

    def lambda_error(self, function_name: str) -> str | None:
        invocations = Inspector(self.twin).invocations(function_name)
        if not invocations or invocations[-1].error is None:
            return None
        try:
            self.twin.part(LambdaRuntime).wait_idle(timeout=0)
        except TwinBusyError:
            return None  # a retry is still to come
        return f"{function_name} failed: {invocations[-1].error}"

    def access_denials(self) -> list[AccessDenial]:
        return Inspector(self.twin).access_denials()

    def instance_log(self, name: str, run_id: str | None) -> str:
        host = self.twin.part(NotebookHost)
        home = host.sandbox(name).sagemaker_home
        runs = sorted(home.glob("asr-monitor/runs/*/run.log"))
        hooks = [host.hook_log(name, ON_CREATE), host.hook_log(name, ON_START)]
        logs = hooks + [p.read_text(errors="replace") for p in runs]
        return "\n".join(logs)


@dataclass(frozen=True)
class _RuleRef:
    """What the Scheduled Event names of a rule (``events.scheduler.scheduled_event``)."""

    arn: str
    account_id: str
    region_name: str

    @classmethod
    def from_arn(cls, arn: str) -> _RuleRef:
        _, _, _, region, account, _ = arn.split(":", 5)
        return cls(arn, account, region)


class LocalStackSite:
    """LocalStack beside the twin's container (TWIN=localstack, docs/docker.md)."""

    name = "localstack"

    def __init__(
        self,
        env: Mapping[str, str],
        container: str = DEFAULT_NOTEBOOK_CONTAINER,
        docker: str = "docker",
        description: str = "",
    ) -> None:
        self.routes = EnvClients(env)
        self.clients = Clients(self.routes)
        self.container = container
        self.docker = docker
        self.description = description

    @classmethod
    def connect(cls, environ: Mapping[str, str] | None = None) -> LocalStackSite:
        """The site once LocalStack and the twin answer; else BackendUnavailable, one line."""
        env = os.environ if environ is None else environ
        backend = LocalStackBackend(env.get("LOCALSTACK_ENDPOINT") or DEFAULT_LOCALSTACK_ENDPOINT)
        twin_endpoint = published_twin_endpoint(env)
        description = require_localstack(backend, twin_endpoint)
        container = env.get("NOTEBOOK_CONTAINER") or DEFAULT_NOTEBOOK_CONTAINER
        return cls(backend.client_env(twin_endpoint), container, description=description)

    def client(self, service: str, /) -> BaseClient:
        return self.clients(service)

    def fire(self, rule_name: str) -> None:
        """Invoke the rule's Lambda targets asynchronously with its Scheduled Event."""
        events = self.client("events")
        rule = events.describe_rule(Name=rule_name)
        if rule.get("State") != "ENABLED":
            raise SiteError(f"rule {rule['Arn']} is {rule.get('State')}; enable it first")
        if not rule.get("ScheduleExpression"):
            raise SiteError(f"rule {rule['Arn']} has no schedule to fire")
        targets = [
            target
            for page in events.get_paginator("list_targets_by_rule").paginate(Rule=rule_name)
            for target in page["Targets"]
        ]
        others = [t["Arn"] for t in targets if t["Arn"].split(":")[2] != "lambda"]
        if others or not targets:
            raise SiteError(
                f"rule {rule_name}: the e2e driver fires Lambda targets only; "
                f"targets: {', '.join(t['Arn'] for t in targets) or 'none'}"
            )
        event = scheduled_event(_RuleRef.from_arn(rule["Arn"]), utc_now())  # type: ignore[arg-type]
        for target in targets:
            payload = json.dumps(target_input(target, event)).encode()
            answer = self.client("lambda").invoke(
                FunctionName=target["Arn"], InvocationType="Event", Payload=payload
            )
            if answer.get("StatusCode") != 202:
                raise SiteError(
                    f"rule {rule_name}: Lambda did not queue the event for {target['Arn']} "
                    f"(status {answer.get('StatusCode')})"
                )

    def lambda_error(self, function_name: str) -> str | None:
        return None  # its dead-letter queue tells, after Lambda's retries (the chain reads it)

    def access_denials(self) -> list[AccessDenial]:
        return []  # LocalStack Community enforces no IAM, and the roles live there

    def instance_log(self, name: str, run_id: str | None) -> str:
        return "\n".join([self.hook_log(name), self.run_log(run_id)])

    def hook_log(self, name: str) -> str:
        """The LifecycleConfigOnStart stream, as the twin's notebook host published it."""
        logs = self.client("logs")
        lines: list[str] = []
        request: dict[str, Any] = {
            "logGroupName": LOG_GROUP,
            "logStreamName": f"{name}/{ON_START_STREAM}",
            "startFromHead": True,
        }
        try:
            while True:
                page = logs.get_log_events(**request)
                lines += [event["message"] for event in page["events"]]
                if not page["events"] or page.get("nextForwardToken") == request.get("nextToken"):
                    return "\n".join(lines)
                request["nextToken"] = page["nextForwardToken"]
        except (BotoCoreError, ClientError) as error:
            return "\n".join([*lines, f"(hook log of {name} unavailable: {error})"])

    def run_log(self, run_id: str | None) -> str:
        """The run's run.log from the notebook-instance container (the newest run's if None)."""
        command = [self.docker, "exec", self.container, "sh", "-c", RUN_LOG_SCRIPT, "sh"]
        command += [run_id] if run_id else []
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
                timeout=DOCKER_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"(run log unavailable: {error})"
        if result.returncode != 0:
            said = next((line for line in result.stderr.splitlines() if line.strip()), "")
            return f"(run log unavailable: docker exec {self.container}: {said or 'no run log'})"
        return result.stdout
