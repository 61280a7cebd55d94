"""The everyday commands against a twin that stays up in the background.

``asr-monitor twin start`` runs as a real process that spawns the twin and returns; every
other command (``twin status`` and ``stop`` in processes of their own, the rest in this one)
talks to it through its endpoint only: the AWS APIs and its control API. The tests run in file
order on one twin, as a user's session would (start, upload and run now while following the
log, make e2e, invoke, logs, a plain deploy, stop); each asserts on what the twin holds
afterwards. Two runs of two clips keep it short.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from deploy.cli.main import main
from deploy.stack import stack_outputs
from emulation import cli as emulation_cli
from emulation.background.state import DIR_ENV, PORT_ENV, TwinState, alive
from emulation.core.control_client import TwinControl, twin_health
from emulation.core.server import free_port
from emulation.e2e.chain import DEFAULT_CORPUS
from pipeline.history import read_history
from pipeline.results_table import RUN_PREFIX
from tests.deploy.conftest import point_boto3_at

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Tried to parse AWS::")]
STACK = "asr-monitor"
CLIPS = ("clip01_nightly_run", "clip07_slow")


@dataclass(frozen=True)
class Background:
    folder: Path
    env: dict[str, str]
    started: str  # what `twin start` printed

    @property
    def state(self) -> TwinState:
        state = TwinState.read(self.folder)
        assert state is not None, f"no state in {self.folder}"
        return state

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """``asr-monitor ARGS`` in a process of its own."""
        return subprocess.run(
            [sys.executable, "-m", "deploy", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.state.endpoint,
            region_name=self.state.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def outputs(self, stack: str = STACK) -> dict[str, str]:
        return stack_outputs(self.client("cloudformation"), stack)


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    folder = tmp_path_factory.mktemp("twin")
    env = {**os.environ, DIR_ENV: str(folder), PORT_ENV: str(free_port())}
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "TWIN"):
        env.pop(variable, None)
    started = subprocess.run(
        [sys.executable, "-m", "deploy", "twin", "start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    yield Background(folder, env, started.stdout)
    if (folder / "state.json").exists():
        subprocess.run(
            [sys.executable, "-m", "deploy", "twin", "stop"], env=env, timeout=120, check=False
        )


@pytest.fixture
def on_twin(background: Background, monkeypatch: pytest.MonkeyPatch) -> Background:
    """This process finds the background twin as `--twin` and make e2e do."""
    monkeypatch.setenv(DIR_ENV, str(background.folder))
    return background


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for stem in CLIPS:
        for path in DEFAULT_CORPUS.glob(f"{stem}.*"):
            shutil.copy(path, folder)
    return folder


def wait_for(probe, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what}: not after {timeout:g} s")


def test_twin_start_returns_with_the_stack_deployed_and_another_process_reads_its_status(
    background: Background,
) -> None:
    state = background.state
    health = twin_health(state.endpoint)
    assert health is not None and health["pid"] == state.pid  # the state names the server
    assert state.stack == STACK and state.port == int(background.env[PORT_ENV])
    assert f"export AWS_ENDPOINT_URL={state.endpoint}" in background.started
    assert "[stage] deploy ok" in background.started

    # As on AWS, creating the instance ran OnStart: start followed that run (an empty corpus)
    # to its end, so the schedule finds the instance Stopped.
    assert "[stage] creation run ok" in background.started
    status = background.cli("twin", "status")

    assert status.returncode == 0, status.stderr
    stack, instance, last = status.stdout.splitlines()[1:]
    assert (stack, instance) == (
        f"stack: {STACK} CREATE_COMPLETE",
        f"instance: {STACK}-notebook Stopped",
    )
    assert re.fullmatch(r"last run: \S+ NO_CORPUS, 0 files scored, 0 failed", last)
    assert status.stdout.startswith(f"twin: running at {state.endpoint} (pid {state.pid}")

    again = background.cli("twin", "start")
    assert again.returncode == 0, again.stderr
    assert f"twin already running at {state.endpoint} (pid {state.pid})" in again.stdout
    assert background.state.pid == state.pid


def test_upload_corpus_then_run_now_and_follow_its_log_until_the_run_ends(
    on_twin: Background, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["upload-corpus", "--twin", "--corpus", str(corpus)]) == 0
    media = on_twin.outputs()["MediaBucketName"]
    listed = on_twin.client("s3").list_objects_v2(Bucket=media)["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        f"corpus/{stem}.{ext}" for stem in CLIPS for ext in ("txt", "wav")
    ]
    assert main(["run-now", "--twin"]) == 0
    assert f"{STACK}-notebook: Stopped: start requested" in capsys.readouterr().out

    assert main(["logs", "--twin", "--follow"]) == 0

    log = capsys.readouterr().out
    run_id = log.split("on-start: run ", 1)[1].split(" ", 1)[0]
    assert f"run {run_id} complete" in log
    assert "transcribe: 2 files: 0 queued, 0 running, 2 done, 0 failed" in log
    sagemaker = on_twin.client("sagemaker")
    described = sagemaker.describe_notebook_instance(NotebookInstanceName=f"{STACK}-notebook")
    assert described["NotebookInstanceStatus"] == "Stopped"  # followed to the end
    creation, run = read_history(
        on_twin.outputs()["ScoresTableName"], on_twin.client("dynamodb")
    ).runs
    assert creation.status == "NO_CORPUS"
    assert (run.run_id, run.status, run.files) == (run_id, "OK", 2)


def test_make_e2e_runs_on_the_background_twin_and_compares_with_the_run_before(
    on_twin: Background, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = on_twin.outputs()["ScoresTableName"]
    creation, before = read_history(table, on_twin.client("dynamodb")).runs

    argv = ["e2e", "--corpus", str(corpus), "--runs-dir", str(tmp_path)]
    assert emulation_cli.main(argv) == 0

    printed = capsys.readouterr().out
    assert f"[twin] the background twin at {on_twin.state.endpoint}" in printed
    summary = json.loads(Path(printed.strip().splitlines()[-1]).read_text(encoding="utf-8"))
    assert (summary["twin"], summary["status"]) == ("background", "OK")
    assert summary["previous_run_id"] == before.run_id
    assert summary["delta_wer"] == 0.0  # the same clips, the same engine
    assert f"change from the previous run {before.run_id}: +0.00 pts" in printed
    assert not list(tmp_path.glob(".sandbox-*"))  # no twin of its own

    assert main(["history", "--twin"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"the last 3 run(s) of {STACK}, oldest first"
    assert lines[1].split() == ["run", "status", "corpus", "WER", "95%", "CI", "change",
                                "files", "scored", "failed"]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == [creation.run_id, before.run_id, summary["run_id"]]
    assert rows[2][-4:] == ["+0.00", "pts", "2", "0"]

    assert main(["history", "--twin", "--file", "clip07_slow.wav"]) == 0
    lines = capsys.readouterr().out.splitlines()
    [clip] = [f for f in summary["files"] if f["file"] == "clip07_slow.wav"]
    errors = clip["substitutions"] + clip["deletions"] + clip["insertions"]
    assert lines[-1].split() == [
        summary["run_id"], "OK", f"{100 * clip['wer']:.2f}%", str(errors), str(clip["ref_words"])
    ]  # fmt: skip


def test_invoke_with_a_generated_event_ingests_the_last_run_again(
    on_twin: Background, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = on_twin.outputs()
    dynamodb, table = on_twin.client("dynamodb"), outputs["ScoresTableName"]
    last_key = max(
        o["Key"]
        for o in on_twin.client("s3").list_objects_v2(
            Bucket=outputs["ResultsBucketName"], Prefix="scores/"
        )["Contents"]
    )
    run_id = last_key.removeprefix("scores/").removesuffix(".csv")
    pk = {":pk": {"S": f"{RUN_PREFIX}{run_id}"}}
    files = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=pk,
    )["Items"]
    for item in files:
        if item["sk"]["S"].startswith("FILE#"):
            dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})

    assert main(["generate-event", "s3", "--twin"]) == 0
    event = json.loads(capsys.readouterr().out)
    [record] = event["Records"]
    assert record["s3"]["bucket"]["name"] == outputs["ResultsBucketName"]
    assert record["s3"]["object"]["key"] == last_key.replace("/", "%2F")
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")

    assert main(["invoke", "IngestFunction", "--twin", "--event", str(event_file)]) == 0

    captured = capsys.readouterr()
    [result] = json.loads(captured.out)["records"]
    assert (result["run_id"], result["outcome"], result["written"]) == (run_id, "ingested", 2)
    assert "REPORT RequestId:" in captured.err  # the end of its log, as sam local invoke shows
    back = dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=pk
    )["Items"]
    assert sorted(i["sk"]["S"] for i in back if i["sk"]["S"].startswith("FILE#")) == [
        "FILE#clip01_nightly_run.wav",
        "FILE#clip07_slow.wav",
    ]


def test_logs_show_the_last_run_and_a_functions_log(
    on_twin: Background, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "--twin"]) == 0
    log = capsys.readouterr().out
    assert "transcribe: 2 files: 0 queued, 0 running, 2 done, 0 failed" in log
    assert re.search(r"on-start: run \S+ complete", log)

    assert main(["logs", "--twin", "--function", "StartNotebookFunction"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.split(" ", 1)[1].startswith("REPORT RequestId:") for line in lines) == 2

    assert main(["logs", "--twin", "--function", "Nope"]) == 1


def test_a_plain_deploy_through_the_environment_gives_a_working_stack(
    on_twin: Background, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `make twin` then `make deploy` path: the environment points boto3 at a twin (its
    export lines), and deploy takes the twin's path, the one `twin start` and make e2e take
    (deploy_to_twin, whose stacks run above): the instance under the name the outputs give,
    with its lifecycle script, and the bucket's notification to ingest."""
    point_boto3_at(on_twin.state.env(), monkeypatch)

    assert main(["deploy", "--stack", "plain"]) == 0

    assert f"deploying plain to the twin at {on_twin.state.endpoint}" in capsys.readouterr().out
    outputs = on_twin.outputs("plain")
    instance = on_twin.client("sagemaker").describe_notebook_instance(
        NotebookInstanceName=outputs["NotebookInstanceName"]
    )
    assert instance["NotebookInstanceLifecycleConfigName"] == outputs["LifecycleConfigName"]
    notification = on_twin.client("s3").get_bucket_notification_configuration(
        Bucket=outputs["ResultsBucketName"]
    )
    [target] = notification["LambdaFunctionConfigurations"]
    assert target["LambdaFunctionArn"].endswith(f":function:{outputs['IngestScoresFunctionName']}")

    assert main(["delete", "--stack", "plain"]) == 0
    assert "stack plain deleted" in capsys.readouterr().out
    names = [
        i["NotebookInstanceName"]
        for i in on_twin.client("sagemaker").list_notebook_instances()["NotebookInstances"]
    ]
    assert f"{STACK}-notebook" in names
    assert [n for n in names if n.startswith("plain-")] == []  # the repaired one went too


def test_invoke_the_starter_with_a_generated_schedule_event_then_twin_stop_ends_the_run(
    background: Background, tmp_path: Path
) -> None:
    """The event is the one the twin's scheduler delivers (EventBridge User Guide, "Creating a
    rule that runs on a schedule"), for the stack's rule; the starter starts the instance on it
    as on a schedule. Then ``twin stop`` ends that run's processes with the twin."""
    state = background.state
    control = TwinControl(state.endpoint)
    generated = background.cli("generate-event", "schedule", "--twin")
    assert generated.returncode == 0, generated.stderr
    event = json.loads(generated.stdout)
    rule = background.client("events").describe_rule(Name=background.outputs()["ScheduleRuleName"])
    assert (event["detail-type"], event["source"], event["resources"], event["detail"]) == (
        "Scheduled Event",
        "aws.events",
        [rule["Arn"]],
        {},
    )
    event_file = tmp_path / "schedule.json"
    event_file.write_text(generated.stdout, encoding="utf-8")

    started = background.cli("invoke", "StartNotebookFunction", "--twin", "-e", str(event_file))

    assert started.returncode == 0, started.stderr
    result = json.loads(started.stdout)
    assert (result["instance"], result["previous_status"]) == (f"{STACK}-notebook", "Stopped")
    assert result["message"] == "Stopped: start requested"
    pids = wait_for(lambda: control.instance_processes(f"{STACK}-notebook"), "a run's processes")

    stopped = background.cli("twin", "stop")

    assert stopped.returncode == 0, stopped.stderr
    said = stopped.stdout.splitlines()[0]
    assert said.startswith(f"twin (pid {state.pid}) stopped; twin stopped: ")
    invocations = int(said.split("twin stopped: ")[1].split(" ")[0])
    assert invocations >= 6  # the starter's and ingest's invocations above, counted before stop
    assert not alive(state.pid)
    assert [pid for pid in pids if alive(pid)] == []
    assert not (background.folder / "state.json").exists()
    assert not (background.folder / "sandbox").exists()
    assert "twin stopped: " in (background.folder / "twin.log").read_text(encoding="utf-8")

    status = background.cli("twin", "status")
    assert (status.returncode, status.stdout.strip()) == (
        3,
        "twin: not running; start it: asr-monitor twin start",
    )
    refused = background.cli("history", "--twin")
    assert refused.returncode == 1
    assert "--twin: no twin runs for this checkout" in refused.stderr


def test_a_state_left_by_a_dead_twin_is_reported_stale_and_removed(
    background: Background,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    TwinState(
        pid=dead.pid,
        endpoint="http://127.0.0.1:9",
        port=9,
        region="us-east-1",
        stack=STACK,
        log=str(background.folder / "twin.log"),
        started_at="2026-01-01T00:00:00+00:00",
    ).write(background.folder)

    status = background.cli("twin", "status")
    assert status.returncode == 3
    assert f"a stale state was left: pid {dead.pid} is not running" in status.stdout

    stopped = background.cli("twin", "stop")
    assert stopped.returncode == 0
    assert f"removed the stale state (pid {dead.pid} is not running)" in stopped.stdout
    assert not (background.folder / "state.json").exists()
