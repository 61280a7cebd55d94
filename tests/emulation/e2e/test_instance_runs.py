"""The notebook instance as AWS runs it, on the twin: every run reports itself and the instance
always stops, whatever goes wrong, with the starter Lambda as the second line of defence.

Each test deploys the real template (its own stack) on one twin, starts runs through the real
OnStart script and starter Lambda, and asserts on what AWS would hold afterwards: SNS messages,
DynamoDB items, S3 objects, the instance's transitions. Sources for AWS's behaviour:
- StopNotebookInstance is accepted only from InService ("Status (Pending) not in ([InService])",
  SageMaker API reference); the instance stays Pending after OnStart while Jupyter starts
  (the twin's ``boot_seconds``).
- Conda environments are refreshed on every start; only /home/ec2-user/SageMaker persists
  (developer guide, "External library and kernel installation").
- Stopping an instance shuts its machine down: processes get SIGTERM, then SIGKILL after a grace
  period (systemd's DefaultTimeoutStopSec, 90 s; the twin's ``stop_grace_seconds`` here 30 s).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from deploy.repairs import repair_stack
from deploy.template import load_template
from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.build import build_twin
from emulation.core.inspector import Inspector, SnsMessage
from emulation.core.twin import Twin
from emulation.e2e.chain import DEFAULT_CORPUS, E2EOptions, deploy_outputs, twin_config
from emulation.e2e.sites import EmbeddedSite
from emulation.events.scheduler import Scheduler
from emulation.sagemaker.config import NotebookHostConfig
from emulation.sagemaker.notebook_host import NotebookHost
from pipeline.results_table import starter_notes

pytestmark = [pytest.mark.e2e, pytest.mark.spread]
PROJECT = Path(__file__).resolve().parents[3]
T = TypeVar("T")


@pytest.fixture(scope="module")
def lifecycle_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    config = twin_config(E2EOptions(), tmp_path_factory.mktemp("sandbox"))
    sagemaker = dataclasses.replace(
        config.sagemaker,
        stop_grace_seconds=30.0,
        extra_env={**config.sagemaker.extra_env, "ASR_HEARTBEAT_SECONDS": "1"},
    )
    twin = build_twin(dataclasses.replace(config, sagemaker=sagemaker))
    twin.start()
    yield twin
    twin.stop()


def eventually(check: Callable[[], T | None], what: str, timeout: float = 240.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still not true after {timeout:g} s")
        time.sleep(0.2)


@dataclasses.dataclass
class Stack:
    """A deployed stack on the twin and what a test does with it."""

    twin: Twin
    name: str
    outputs: dict[str, str]
    base: NotebookHostConfig
    earlier: int = 0  # messages before the test's own: the creation run's

    @property
    def host(self) -> NotebookHost:
        return self.twin.part(NotebookHost)

    @property
    def instance(self) -> str:
        return self.outputs["NotebookInstanceName"]

    def client(self, service: str) -> Any:
        return self.twin.client(service)

    def configure_host(self, env: dict[str, str] | None = None, **settings: Any) -> None:
        """The module's host settings with these changes (none: back to the module's)."""
        self.host.config = dataclasses.replace(
            self.base, extra_env={**self.base.extra_env, **(env or {})}, **settings
        )

    def configure_starter(self, **env: str) -> None:
        lam = self.client("lambda")
        function = self.outputs["StartNotebookFunctionName"]
        current = lam.get_function_configuration(FunctionName=function)["Environment"]
        lam.update_function_configuration(
            FunctionName=function, Environment={"Variables": {**current["Variables"], **env}}
        )

    def fire(self) -> dict[str, Any]:
        """Fire the schedule; the starter's answer once it ran."""
        function = self.outputs["StartNotebookFunctionName"]
        before = len(Inspector(self.twin).invocations(function))
        self.twin.part(Scheduler).fire(self.outputs["ScheduleRuleName"])
        self.twin.part(LambdaRuntime).wait_idle(timeout=360)
        invocation = Inspector(self.twin).invocations(function)[before]
        assert invocation.error is None, invocation.error
        return invocation.result

    def status(self) -> str:
        described = self.client("sagemaker").describe_notebook_instance(
            NotebookInstanceName=self.instance
        )
        return described["NotebookInstanceStatus"]

    def wait_status(self, status: str) -> None:
        eventually(lambda: self.status() == status, f"{self.instance} {status}")

    def messages(self) -> list[SnsMessage]:
        """The stack's messages since the creation run's."""
        return Inspector(self.twin).sns_messages(self.outputs["AlertTopicArn"])[self.earlier :]

    def next_message(self, count: int) -> SnsMessage:
        """The message after the first ``count`` ones, once ingest sent it."""
        return eventually(
            lambda: self.messages()[count] if len(self.messages()) > count else None,
            "the run's message",
        )

    def results_object(self, key: str) -> bytes:
        """The object once it is there: a run uploads its log and notebook after the scores CSV,
        so they may land after the message that CSV brought."""
        bucket, s3 = self.outputs["ResultsBucketName"], self.client("s3")

        def read() -> bytes | None:
            try:
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                return None

        return eventually(read, f"s3://{bucket}/{key}", timeout=60)

    def summary(self, run_id: str) -> dict[str, Any]:
        table = self.outputs["ScoresTableName"]
        item = self.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "SUMMARY"}}
        )["Item"]
        return {name: next(iter(value.values())) for name, value in item.items()}

    def upload_clips(self, count: int) -> list[str]:
        clips = sorted(DEFAULT_CORPUS.glob("*.wav"))[:count]
        s3, bucket = self.client("s3"), self.outputs["MediaBucketName"]
        for clip in clips:
            for path in (clip, clip.with_suffix(".txt")):
                s3.put_object(Bucket=bucket, Key=f"corpus/{path.name}", Body=path.read_bytes())
        return [clip.name for clip in clips]

    def empty_corpus(self) -> None:
        s3, bucket = self.client("s3"), self.outputs["MediaBucketName"]
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])

    def run_dirs(self) -> list[Path]:
        home = self.host.sandbox(self.instance).sagemaker_home
        return sorted((home / "asr-monitor" / "runs").glob("*"))

    def transcribing(self) -> str:
        """Wait until a run of this stack has Transcribe jobs; its run id."""

        def run_with_jobs() -> str | None:
            runs = self.run_dirs()
            if not runs:
                return None
            jobs = self.client("transcribe").list_transcription_jobs(JobNameContains=runs[-1].name)[
                "TranscriptionJobSummaries"
            ]
            return runs[-1].name if jobs else None

        return eventually(run_with_jobs, "a transcription job of the run")

    def settle(self) -> None:
        """Leave the instance Stopped (a stop is refused while Pending), ending a Pending or
        Stopping a failed test left held."""
        self.host.end_pending(self.instance)
        self.host.end_stopping(self.instance)
        status = eventually(
            lambda: (s := self.status()) in ("InService", "Stopping", "Stopped", "Failed") and s,
            f"{self.instance} settled",
        )
        if status == "InService":
            self.client("sagemaker").stop_notebook_instance(NotebookInstanceName=self.instance)
        if status != "Failed":
            self.wait_status("Stopped")


@pytest.fixture
def stack(lifecycle_twin: Twin) -> Iterator[Stack]:
    name = f"life-{uuid.uuid4().hex[:6]}"
    outputs, _ = deploy_outputs(EmbeddedSite(lifecycle_twin), name, {})
    repair_stack(lifecycle_twin, name, template=load_template())
    host = lifecycle_twin.part(NotebookHost)
    base = host.config
    deployed = Stack(lifecycle_twin, name, outputs, base)
    # Creating the instance ran OnStart (AWS runs it "including when you create the notebook
    # instance"): a first run on the empty corpus, messaged, which stops the instance.
    created = deployed.next_message(0)
    assert created.attributes["status"] == "NO_CORPUS"
    deployed.wait_status("Stopped")
    deployed.earlier = 1
    yield deployed
    host.config = base
    deployed.settle()


def test_a_failed_install_ends_the_run_failed_quoting_pip_and_recorded(stack: Stack) -> None:
    """The run builds its environment (no ASR_NOTEBOOK_PYTHON) from an index that has nothing:
    pip fails, and the run reports FAILED with pip's own words, in DynamoDB and in the message,
    with its log in S3, and stops the instance."""
    stack.configure_host(
        {
            "ASR_NOTEBOOK_PYTHON": "",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
            "PIP_RETRIES": "0",
            "PIP_TIMEOUT": "2",
        }
    )
    stack.client("sagemaker").start_notebook_instance(NotebookInstanceName=stack.instance)

    message = stack.next_message(0)
    run_id = message.attributes["run_id"]

    assert message.attributes["status"] == "FAILED"
    assert "pip install of requirements-notebook.txt failed: ERROR:" in message.message
    assert "No matching distribution found for" in " ".join(message.message.split())
    summary = stack.summary(run_id)
    assert summary["status"] == "FAILED"
    log = stack.results_object(f"reports/{run_id}/run.log").decode()
    assert "building environment" in log and "No matching distribution found" in log
    beat = json.loads(stack.results_object(f"reports/{run_id}/heartbeat.json"))
    assert (beat["run_id"], beat["instance"]) == (run_id, stack.instance)
    stack.wait_status("Stopped")
    envs = stack.host.sandbox(stack.instance).sagemaker_home / "asr-monitor" / "envs"
    assert not list(envs.glob("*/.complete"))  # a half-built environment is not kept


def environment_key(stack: Stack) -> str:
    """What on-start.sh hashes: the shipped requirements, then the Python's version line."""
    requirements = (PROJECT / "requirements" / "instance.txt").read_bytes()
    python = f"{sys.version} {platform.machine()}\n".encode()
    return hashlib.sha256(requirements + python).hexdigest()[:16]


def test_a_built_environment_is_reused_and_the_stop_waits_for_in_service(stack: Stack) -> None:
    """An environment built at an earlier start (on the EBS volume) is reused, not rebuilt; and
    a run that ends while the instance is still Pending waits for InService to stop it."""
    key = environment_key(stack)
    env = stack.host.sandbox(stack.instance).sagemaker_home / "asr-monitor" / "envs" / key
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (env / "bin" / "python").chmod(0o755)
    (env / ".complete").write_text("built 2026-11-01T06:00:00Z in 42 s\n")
    # Pending after the hook until the run has been refused its stop (end_pending below):
    # a fixed span long enough for a loaded suite cost 40 s.
    stack.configure_host({"ASR_NOTEBOOK_PYTHON": ""}, boot_seconds=600.0)

    stack.client("sagemaker").start_notebook_instance(NotebookInstanceName=stack.instance)
    message = stack.next_message(0)
    run_id = message.attributes["run_id"]
    pending = f"{stack.instance} is Pending; it can be stopped once InService"
    local_log = stack.run_dirs()[-1] / "run.log"
    assert local_log.parent.name == run_id
    eventually(lambda: pending in local_log.read_text(), "the run refused its stop while Pending")
    assert stack.status() == "Pending"
    stack.host.end_pending(stack.instance)

    assert message.attributes["status"] == "NO_CORPUS"
    stack.wait_status("Stopped")
    log = stack.results_object(f"reports/{run_id}/run.log").decode()
    assert f"reusing environment {key} (built 2026-11-01T06:00:00Z in 42 s)" in log
    assert pending in log
    # The last lines reach the instance's disk; the stop may end the run before their upload.
    assert f"stop requested for {stack.instance}" in local_log.read_text()
    moves = [
        (t.from_status, t.to_status)
        for t in Inspector(stack.twin).notebook_transitions()
        if t.instance == stack.instance
    ]
    assert moves[-4:] == [
        ("Stopped", "Pending"),
        ("Pending", "InService"),
        ("InService", "Stopping"),
        ("Stopping", "Stopped"),
    ]


def test_a_run_stopped_from_outside_reports_itself_failed(stack: Stack) -> None:
    """StopNotebookInstance during the notebook: the run's TERM trap writes the failure CSV (the
    files already transcribed scored, a failed row for every other), uploads the executed
    notebook and the log; ingest sends FAILED: the run did not complete."""
    clips = stack.upload_clips(6)
    stack.client("sagemaker").start_notebook_instance(NotebookInstanceName=stack.instance)
    stack.transcribing()
    stack.wait_status("InService")
    stack.client("sagemaker").stop_notebook_instance(NotebookInstanceName=stack.instance)

    message = stack.next_message(0)
    run_id = message.attributes["run_id"]

    assert message.attributes["status"] == "FAILED"
    flat = " ".join(message.message.split())
    assert "stopped from outside the run (StopNotebookInstance)" in flat
    assert "during phase notebook" in flat
    table = stack.outputs["ScoresTableName"]
    items = stack.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :file)",
        ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":file": {"S": "FILE#"}},
    )["Items"]
    assert sorted(item["file"]["S"] for item in items) == sorted([*clips, "(run)"])
    # Files whose transcript was written before the stop are scored and kept (issue 12); the
    # others fail with the stop's reason; the run is FAILED all the same.
    failed = [item for item in items if item["status"]["S"] == "failed"]
    assert failed and all("stopped from outside" in item["error"]["S"] for item in failed)
    assert stack.summary(run_id)["status"] == "FAILED"
    assert b"stopped from outside" in stack.results_object(f"reports/{run_id}/run.log")
    # The trap writes the failure CSV first (the message), then uploads the executed notebook:
    # once the instance is Stopped, the trap has ended (well within the 30 s grace).
    stack.wait_status("Stopped")
    notebook = json.loads(stack.results_object(f"reports/{run_id}/transcribe_and_score.ipynb"))
    assert notebook["cells"]


def test_the_starter_stops_an_instance_whose_run_died_and_the_next_message_says_so(
    stack: Stack,
) -> None:
    """The run is killed outright (no trap runs), leaving the instance InService: at the next
    fire the starter sees it over the run's limit with a stale heartbeat, stops it, waits for
    Stopped, starts a new run, and that run's message carries the note."""
    stack.configure_starter(
        MAX_RUN_MINUTES="0.01", HEARTBEAT_MAX_AGE_SECONDS="3", POLL_SECONDS="0.2"
    )
    stack.upload_clips(6)
    stack.client("sagemaker").start_notebook_instance(NotebookInstanceName=stack.instance)
    dead_run = stack.transcribing()
    stack.wait_status("InService")
    for pid in stack.host.processes_alive(stack.instance):  # processes this test started
        with contextlib.suppress(ProcessLookupError):  # one that ended since it was listed
            os.kill(pid, signal.SIGKILL)
    eventually(lambda: not stack.host.processes_alive(stack.instance), "the run's processes gone")
    time.sleep(4)  # the heartbeat goes stale
    assert stack.status() == "InService"
    stack.empty_corpus()

    answer = stack.fire()

    assert (answer["previous_status"], answer["action"]) == ("InService", "stopped and started")
    [note] = answer["notes"]
    assert note.startswith(f"stopped {stack.instance}: InService for ")
    assert note.endswith(f"(run {dead_run})")
    stored = starter_notes(stack.outputs["ScoresTableName"], "", "9999", stack.client("dynamodb"))
    assert [text.split(": ", 1)[1] for text in stored] == [note]
    message = stack.next_message(0)
    assert message.attributes["run_id"] != dead_run
    flat = " ".join(message.message.split())
    assert "Since the previous run, the starter Lambda:" in message.message
    assert note in flat
    stack.wait_status("Stopped")


def test_a_fire_while_stopping_too_long_is_skipped_and_the_next_message_says_so(
    stack: Stack,
) -> None:
    """A fire while the instance is Stopping waits up to STOPPED_WAIT_SECONDS for Stopped, then
    records a skipped start; the next run's message carries that note, the first's does not.
    Stopping is held (600 s, ended by the test once the starter answered), as AWS's takes a
    minute or more."""
    stack.configure_host(stopping_seconds=600.0)
    stack.configure_starter(STOPPED_WAIT_SECONDS="1", POLL_SECONDS="0.2")
    stack.client("sagemaker").start_notebook_instance(NotebookInstanceName=stack.instance)
    first = stack.next_message(0)
    assert first.attributes["status"] == "NO_CORPUS"
    stack.wait_status("Stopping")

    answer = stack.fire()

    assert (answer["previous_status"], answer["action"]) == ("Stopping", "skipped")
    assert answer["notes"] == [
        f"skipped the scheduled start: {stack.instance} was still Stopping after 1 s"
    ]
    assert stack.status() == "Stopping"
    stack.host.end_stopping(stack.instance)
    stack.wait_status("Stopped")
    stack.configure_host()
    assert stack.fire()["action"] == "started"
    second = stack.next_message(1)
    assert answer["notes"][0] in " ".join(second.message.split())
    assert answer["notes"][0] not in " ".join(first.message.split())
    stack.wait_status("Stopped")
