"""A rehearsal of TWIN=localstack without Docker: the same processes and routes, other actors.

    LocalStack          an embedded twin in its own process (`python -m emulation serve`): S3,
                        DynamoDB, SNS, EventBridge, Lambda, SQS, Logs, IAM, STS, CloudFormation
    the twin container  `python -m emulation serve` with TWIN, LOCALSTACK_ENDPOINT and
                        NOTEBOOK_CONTAINER set as docker-compose.yml sets them
    notebook-instance   FakeContainer (tests/docker/conftest.py): the container's real command,
                        run here, with the container's AWS environment

The e2e driver's localstack site deploys, fires and follows the whole chain across the three,
and the test reads back where each thing happened. Two differences from Docker, stated:
LocalStack gives its Lambda containers the SageMaker and Transcribe endpoints
(LAMBDA_DOCKER_FLAGS), here they are added to the two functions' environment after deploy; and
this stack is moto's, which creates the SageMaker resources LocalStack would skip (the repair of
skipped ones is tested in test_e2e_localstack.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulation.core.backends import LocalStackBackend
from emulation.core.server import free_port
from emulation.e2e.chain import DEFAULT_CORPUS, ChainRun, E2EOptions
from emulation.e2e.sites import LocalStackSite
from emulation.e2e.stages import StageLog
from pipeline.layout import transcripts_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.speech]

CONTAINER = "asr-rehearsal"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class Rehearsal:
    localstack: str
    twin: str
    container: Any
    logs: dict[str, Path]

    def tails(self) -> str:
        return "\n".join(
            f"--- {name}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-20:])
            for name, path in self.logs.items()
        )


def wait_for_sagemaker(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    client = boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.list_notebook_instances()
            return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def rehearsal(fake_container: Any, tmp_path: Path) -> Iterator[Rehearsal]:
    localstack, twin = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    fake_container.set_env(
        {
            "PATH": f"{Path(sys.executable).parent}:{SYSTEM_PATH}",
            "LANG": "C.UTF-8",
            "HOME": str(tmp_path / "instance-home"),
            "AWS_ENDPOINT_URL": localstack,
            "AWS_ENDPOINT_URL_SAGEMAKER": twin,
            "AWS_ENDPOINT_URL_TRANSCRIBE": twin,
            "AWS_ACCESS_KEY_ID": "123456789012",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "ASR_PYTHON": sys.executable,
            "ASR_NOTEBOOK_PYTHON": sys.executable,
            "ASR_SWEEP_INTERVAL": "0.5",
            "HF_HUB_OFFLINE": "1",
        }
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "TWIN"}
    base["HF_HUB_OFFLINE"] = "1"
    roles = {
        "localstack": (localstack, base),
        "twin": (
            twin,
            {
                **base,
                "TWIN": "localstack",
                "LOCALSTACK_ENDPOINT": localstack,
                "NOTEBOOK_CONTAINER": CONTAINER,
            },
        ),
    }
    logs = {name: tmp_path / f"{name}.log" for name in roles}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, (url, env) in roles.items():
            with logs[name].open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "emulation", "serve", "--port", url.rsplit(":", 1)[1]],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            processes.append(process)
            wait_for_sagemaker(url, process)
        yield Rehearsal(localstack, twin, fake_container, logs)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_chain_runs_across_localstack_the_twin_and_the_instance(
    rehearsal: Rehearsal, tmp_path: Path
) -> None:
    """Where each call goes, not what the engine hears: two clips of the sample corpus."""
    site = LocalStackSite(
        LocalStackBackend(rehearsal.localstack).client_env(rehearsal.twin), container=CONTAINER
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for clip in sorted(DEFAULT_CORPUS.glob("*.wav"))[:2]:
        shutil.copy(clip, corpus)
        shutil.copy(clip.with_suffix(".txt"), corpus)
    options = E2EOptions(stack="rehearsal", timeout=300, corpus=corpus)
    chain = ChainRun(site, options, StageLog(print))
    chain.deploy()
    functions = site.client("lambda")
    for key in ("StartNotebookFunctionName", "IngestScoresFunctionName"):  # LAMBDA_DOCKER_FLAGS
        name = chain.outputs[key]
        env = functions.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        env.update(
            AWS_ENDPOINT_URL_SAGEMAKER=rehearsal.twin, AWS_ENDPOINT_URL_TRANSCRIBE=rehearsal.twin
        )
        functions.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    chain.creation_run()  # OnStart ran at the instance's creation, in the container
    chain.upload_corpus()
    chain.fire_schedule()
    try:
        chain.follow()
    except Exception as exc:
        pytest.fail(f"{exc}\n{rehearsal.tails()}")
    summary = chain.summary()

    assert all(stage["status"] == "ok" for stage in summary["stages"].values())
    run_id = summary["run_id"]
    audio = sorted(p.name for p in corpus.iterdir() if p.suffix != ".txt")
    assert len(audio) == 2
    assert [f["file"] for f in summary["files"]] == audio
    assert {f["status"] for f in summary["files"]} == {"ok"}
    [note] = summary["notifications"]
    assert (note["attributes"]["run_id"], note["attributes"]["status"]) == (run_id, "OK")
    assert summary["instance_status"] == "Stopped"
    assert summary["creation_run"]["status"] == "NO_CORPUS"

    # The engine read the media from, and wrote the transcripts to, LocalStack's S3.
    transcripts = chain.probes.keys(chain.outputs["ResultsBucketName"], transcripts_prefix(run_id))
    assert len(transcripts) == len(audio)
    twin_s3 = boto3.client(
        "s3",
        endpoint_url=rehearsal.twin,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert twin_s3.list_buckets()["Buckets"] == []
    # The hook ran in the container with one docker exec per start (the creation's, the
    # schedule's); each stop restarted the container.
    calls = rehearsal.container.calls()
    hooks = [c for c in calls if c[0] == "exec" and "run-hook" in c]
    assert [c[-4:-1] for c in hooks] == [["run-hook", "on-start", "rehearsal-notebook"]] * 2
    assert ["restart", "-t", "10", CONTAINER] in calls
    # Its output went to LocalStack's CloudWatch Logs.
    assert f"started run {run_id} in the background" in site.hook_log("rehearsal-notebook")
