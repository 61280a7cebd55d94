"""The chain, stage by stage: deploy, the creation run, upload a corpus, fire the schedule,
follow what happens.

Deploy ``deploy/template.yaml`` through the same code as ``make deploy``. As on AWS, creating the
notebook instance runs its OnStart hook, so the stack's first run happens during the deploy, on
an empty corpus (NO_CORPUS, recorded and messaged): the chain follows it to its end (instance
Stopped) and keeps what it reported. Then it uploads a corpus, fires the schedule, and follows
what the deployed system does by itself: the starter Lambda starts the
notebook instance, its OnStart script runs the notebook (Transcribe jobs on the twin's speech
engine, scoring, report, scores CSV), S3 triggers the ingest Lambda, which writes DynamoDB and
publishes to SNS, and the instance stops itself. Nothing here calls the pipeline directly: it
only starts the chain and reads back, through AWS APIs, what happened.

TWIN picks the site (``sites``): ``embedded`` (default) uses the checkout's background twin
when one runs (``asr-monitor twin start``), where the stack and its history stay, else starts an
in-process twin; ``localstack`` uses LocalStack and the twin's container, started by ``docker
compose up`` (docs/docker.md), and fails at once, in one line, when they are not there.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.errors import MissingOutputsError
from deploy.repairs import declared_outputs, repair_stack
from deploy.stack import deploy_stack, stack_outputs
from deploy.template import TEMPLATE_PATH, load_template
from emulation.background.state import running_twin
from emulation.core.backends import get_backend
from emulation.core.build import TwinConfig, build_twin
from emulation.core.errors import TwinConfigError
from emulation.core.twin import Twin
from emulation.e2e import readback
from emulation.e2e.probes import RunProbes, job_counts
from emulation.e2e.sites import BackgroundTwinSite, EmbeddedSite, LocalStackSite, Site
from emulation.e2e.stages import E2EError, StageLog, wait_until
from emulation.sagemaker import machine
from emulation.sagemaker.config import NotebookHostConfig
from emulation.transcribe.service import TranscribeConfig
from pipeline.layout import scores_key
from pipeline.transcribe import AUDIO_FORMATS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# How long a stage waits for logs once the code ran (CloudWatch Logs delivers in seconds).
LOG_DELIVERY_SECONDS = 30.0
DEFAULT_CORPUS = PROJECT_ROOT / "corpus" / "sample"


@dataclass
class E2EOptions:
    corpus: Path = DEFAULT_CORPUS
    stack: str = "asr-e2e"
    runs_dir: Path = PROJECT_ROOT / "runs"
    engine: str = "faster-whisper"
    timeout: float = 900.0  # for the whole chain after the schedule fires
    lambda_retry_delays: tuple[float, ...] = (2.0, 4.0)  # AWS waits ~1 and ~2 minutes
    parameters: dict[str, str] = field(default_factory=dict)
    upload_prefix: str | None = None  # None: the stack's CorpusPrefix
    runs: int = 1  # schedule firings, one after the other, on one deployed stack
    template_path: Path = TEMPLATE_PATH  # another template (a variant of the stack's roles)


def corpus_files(corpus: Path) -> list[Path]:
    """The audio files and references of a local corpus folder (same layout as in S3)."""
    if not corpus.is_dir():
        raise E2EError(f"corpus {corpus} is not a folder")
    wanted = {f".{ext}" for ext in AUDIO_FORMATS} | {".txt"}
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    if not any(p.suffix.lower() != ".txt" for p in files):
        raise E2EError(f"corpus {corpus} holds no audio ({', '.join(sorted(AUDIO_FORMATS))})")
    return files


class ChainRun:
    """One e2e run on a site: deploy, upload, fire and follow, then read back.

    Everything is followed and read back through AWS APIs (``probes``, ``readback``), so the
    same run works on every site; the site adds what only it can tell (see ``sites``).
    """

    def __init__(self, site: Site, options: E2EOptions, log: StageLog) -> None:
        self.site, self.options, self.log = site, options, log
        self.probes = RunProbes(site)
        self.creation: dict[str, Any] | None = None  # the creation run, read back

    @property
    def outputs(self) -> dict[str, str]:
        return self.probes.outputs

    @property
    def run_id(self) -> str | None:
        return self.probes.run_id

    # -- stages ---------------------------------------------------------------------------
    def deploy(self) -> None:
        with self.log.stage("deploy") as stage:
            template = self.options.template_path
            self.probes.outputs, computed = deploy_outputs(
                self.site, self.options.stack, self.options.parameters, template
            )
            # Before the instance exists: the creation run's CSV and message are new after this.
            self.subscribe()
            self.probes.take_baseline(None)
            repairs = repair_stack(self.site, self.options.stack, template=load_template(template))
            self.probes.learn_roles()
            stage.detail = f"{len(repairs)} twin repairs"
            if computed:
                stage.detail += f"; outputs from the template: {', '.join(computed)}"

    def creation_run(self) -> None:
        """Follow the run OnStart started when the instance was created, to its end: the
        schedule cannot start the instance before it is Stopped. Nothing to follow if the
        deploy created no instance (the stack existed) and no run reported since."""
        with self.log.stage("creation run") as stage:
            name = self.outputs["NotebookInstanceName"]
            probes = self.probes
            status = probes.describe_instance(name)["NotebookInstanceStatus"]
            if status == "Stopped" and probes.scores_run_id() is None:
                stage.detail = f"none: {name} was already Stopped"
                return
            probes.moved = True  # the instance is newer than the baseline: all it did counts
            deadline = time.monotonic() + self.options.timeout
            denied = probes.access_denied
            probes.run_id = wait_until(
                probes.scores_run_id,
                deadline=deadline,
                what="the creation run wrote no scores CSV",
                fail=lambda: (
                    denied("notebook")
                    or probes.instance_failure(name)
                    or probes.stopped_early(name, grace=True)
                ),
            )
            self.ingested(deadline, "ingest did not finish the creation run")
            message = wait_until(
                probes.notification,
                deadline=deadline,
                what="no SNS notification for the creation run",
                fail=lambda: denied("ingest"),
            )
            wait_until(
                lambda: probes.instance_stopped(name),
                deadline=deadline,
                what="the notebook instance did not stop after its creation run",
                fail=lambda: denied("notebook"),
            )
            refuse(denied("notebook") or denied("ingest"))
            self.creation = readback.creation_run(probes, message)
            stage.detail = f"{self.creation['status']} run {probes.run_id}: {message['subject']}"
            probes.run_id = None

    def subscribe(self) -> None:
        """An SQS queue on the alert topic: the run's notification, read back like a subscriber
        (raw delivery off: the SNS envelope keeps Subject and MessageAttributes)."""
        sqs, topic = self.site.client("sqs"), self.outputs["AlertTopicArn"]
        queue_url = sqs.create_queue(QueueName=f"{self.options.stack}-e2e-notifications")[
            "QueueUrl"
        ]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        self.site.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        self.probes.queue_url = queue_url

    def upload_corpus(self) -> None:
        with self.log.stage("upload corpus") as stage:
            files = corpus_files(self.options.corpus)
            s3 = self.site.client("s3")
            prefix = self.options.upload_prefix or self.parameter("CorpusPrefix", "corpus/")
            for path in files:
                key = prefix + path.relative_to(self.options.corpus).as_posix()
                s3.upload_file(str(path), self.outputs["MediaBucketName"], key)
            self.probes.audio_count = sum(1 for p in files if p.suffix.lower() != ".txt")
            stage.detail = f"{len(files)} files, {self.probes.audio_count} audio"

    def fire_schedule(self) -> None:
        with self.log.stage("fire schedule"):
            name = self.outputs["NotebookInstanceName"]
            described = self.probes.describe_instance(name)
            if described["NotebookInstanceStatus"] not in ("Stopped", "Failed"):
                # A stack that outlives a run (a background twin): let the run going end.
                self.log.out(f"[fire schedule] {name} is {described['NotebookInstanceStatus']}")
                described = wait_until(
                    lambda: self.probes.settled_instance(name),
                    deadline=time.monotonic() + self.options.timeout,
                    what=f"notebook instance {name}: the run going did not end",
                )
            self.probes.take_baseline(described.get("LastModifiedTime"))
            self.probes.run_id = None
            self.site.fire(self.outputs["ScheduleRuleName"])

    def follow(self) -> None:
        deadline = time.monotonic() + self.options.timeout
        name = self.outputs["NotebookInstanceName"]
        probes = self.probes
        # Each stage also fails on an AccessDenied of the roles it waits on, as soon as one
        # happens, and at its end: a permission the template lacks.
        denied = probes.access_denied
        with self.log.stage("instance start") as stage:
            wait_until(
                lambda: probes.instance_started(name),
                deadline=deadline,
                what="notebook instance did not reach InService",
                fail=lambda: (
                    denied("starter", "notebook")
                    or probes.instance_failure(name)
                    or probes.lambda_failure(
                        "StartNotebookFunctionName", "StartNotebookDeadLetterQueueUrl"
                    )
                ),
            )
            # The instance's role as its hook used it (before InService); later calls are
            # the run's, which the next stages answer for.
            in_service = datetime.now(UTC)

            def hook_or_starter() -> str | None:
                return denied("starter") or denied("notebook", before=in_service)

            self.logs_delivered(
                "the starter's logs",
                lambda: probes.function_reported("StartNotebookFunctionName"),
                hook_or_starter,
            )
            self.logs_delivered(
                "the OnStart hook's output", lambda: probes.hook_logged(name), hook_or_starter
            )
            refuse(hook_or_starter())
            stage.detail = name
        shown: list[str] = []

        def transcribed() -> str | None:
            """Done yet? Says how many jobs are queued, running, done and failed as it goes."""
            jobs = probes.run_jobs()
            counts = job_counts(jobs, probes.audio_count)
            if counts not in shown[-1:]:
                shown.append(counts)
                self.log.out(f"[transcribe] {counts}")
            return probes.transcription_done(jobs)

        with self.log.stage("transcribe") as stage:
            stage.detail = wait_until(
                transcribed,
                deadline=deadline,
                what="transcription jobs did not finish",
                fail=lambda: (
                    denied("notebook")
                    or probes.instance_failure(name)
                    or probes.stopped_early(name)
                ),
                interval=0.5,
            )
            refuse(denied("notebook"))
        with self.log.stage("score + upload") as stage:
            probes.run_id = wait_until(
                probes.scores_run_id,
                deadline=deadline,
                what="no scores CSV was uploaded",
                fail=lambda: denied("notebook") or probes.stopped_early(name, grace=True),
            )
            refuse(denied("notebook"))
            stage.detail = f"s3://{self.outputs['ResultsBucketName']}/{scores_key(probes.run_id)}"
        with self.log.stage("ingest") as stage:
            self.ingested(deadline, "ingest Lambda did not finish")
            self.logs_delivered(
                "the ingest function's logs",
                lambda: probes.function_reported("IngestScoresFunctionName"),
                lambda: denied("ingest"),
            )
            refuse(denied("ingest"))
            stage.detail = f"{len(readback.dynamodb_items(probes))} DynamoDB items"
        with self.log.stage("notification") as stage:
            message = wait_until(
                probes.notification,
                deadline=deadline,
                what="no SNS notification for the run",
                fail=lambda: denied("ingest"),
            )
            stage.detail = message["subject"]
        with self.log.stage("instance stop"):
            wait_until(
                lambda: probes.instance_stopped(name),
                deadline=deadline,
                what="notebook instance did not stop",
                fail=lambda: denied("notebook"),
            )
            refuse(denied("notebook"))

    def ingested(self, deadline: float, what: str) -> None:
        """Wait until ingest marked the run's notification sent; fail on its AccessDenied or
        once the function failed for good."""
        probes = self.probes
        wait_until(
            probes.ingest_finished,
            deadline=deadline,
            what=what,
            fail=lambda: (
                probes.access_denied("ingest")
                or probes.lambda_failure(
                    "IngestScoresFunctionName", "IngestScoresDeadLetterQueueUrl"
                )
            ),
        )

    def logs_delivered(
        self, what: str, probe: Callable[[], bool | None], fail: Callable[[], str | None]
    ) -> None:
        """Wait until the code's log lines reached CloudWatch Logs, which AWS delivers with the
        role's permissions (``fail``: the stage's AccessDenied check)."""
        wait_until(
            probe,
            deadline=time.monotonic() + LOG_DELIVERY_SECONDS,
            what=f"{what} did not reach CloudWatch Logs",
            fail=fail,
        )

    def parameter(self, name: str, default: str) -> str:
        return self.options.parameters.get(name, default)

    def summary(self) -> dict[str, Any]:
        return {**readback.summary(self.probes, self.log), "creation_run": self.creation}


def refuse(reason: str | None) -> None:
    """Fail the stage with ``reason`` (an AccessDenied), if there is one."""
    if reason:
        raise E2EError(reason)


def deploy_outputs(
    site: Site, stack: str, parameters: dict[str, str], template: Path = TEMPLATE_PATH
) -> tuple[dict[str, str], list[str]]:
    """Deploy the stack; return its outputs and the ones computed from the template.

    An emulator may deploy the stack yet report fewer outputs than the template declares
    (deploy_stack then refuses); those are evaluated from the template against the stack.
    """
    try:
        return deploy_stack(site, stack, parameters, template_path=template, poll_seconds=0.2), []
    except MissingOutputsError:
        pass
    reported = stack_outputs(site.client("cloudformation"), stack)
    declared = declared_outputs(site, stack, template=load_template(template))
    computed = sorted(set(declared) - set(reported))
    return {**declared, **reported}, computed


def twin_config(options: E2EOptions, sandbox: Path) -> TwinConfig:
    """The twin for e2e: the instance's python is this venv's, which already has what the
    notebook needs (so the run builds no environment), with the speech engine chosen. Without
    a namespace (machine.py) the instance's python3 environment is not at its AWS path, so the
    hook is told where it is."""
    extra_env = {
        "ASR_NOTEBOOK_PYTHON": sys.executable,
        "ASR_ENGINE_LABEL": f"twin:{options.engine}",
        # Finished jobs found by a sweep (one ListTranscriptionJobs call) every half second,
        # the path a run takes on AWS every 2 s; each job's own poll stays the 30 s safety net.
        "ASR_SWEEP_INTERVAL": "0.5",
        "HF_HUB_OFFLINE": "1",
    }
    if not machine.resolve(machine.AUTO, os.path.dirname(sys.executable)).namespaced:
        extra_env["ASR_PYTHON"] = sys.executable
    return TwinConfig(
        lambda_retry_delays=options.lambda_retry_delays,
        sagemaker=NotebookHostConfig(sandbox_root=sandbox, extra_env=extra_env),
        transcribe=TranscribeConfig(engine=options.engine),
    )


@contextmanager
def open_site(options: E2EOptions, log: StageLog) -> Iterator[Site]:
    """The site TWIN names: LocalStack beside the twin's container, once both answer (else
    BackendUnavailable, one line), or an embedded twin started here and stopped after."""
    backend = get_backend()
    if backend.name == "localstack":
        site = LocalStackSite.connect()
        log.out(f"[twin] {site.description}")
        yield site
        return
    if backend.name != "embedded":
        raise TwinConfigError(
            f"make e2e runs on TWIN=embedded or TWIN=localstack, not TWIN={backend.name}"
        )
    running = running_twin()
    if running is not None:
        log.out(
            f"[twin] the background twin at {running.endpoint} (pid {running.pid}, stack "
            f"{running.stack}); `asr-monitor twin stop` stops it"
        )
        yield BackgroundTwinSite(running.endpoint, running.region)
        return
    # A sandbox of this run's own: two `make e2e` in one checkout never share an instance's disk.
    options.runs_dir.mkdir(parents=True, exist_ok=True)
    sandbox = Path(tempfile.mkdtemp(prefix=".sandbox-", dir=options.runs_dir))
    try:
        with log.stage("start twin"):
            twin = build_twin(twin_config(options, sandbox)).start()
        try:
            yield EmbeddedSite(twin)
        finally:
            twin.stop()
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def run_chain(site: Site | Twin, options: E2EOptions, log: StageLog) -> dict[str, Any]:
    """Deploy (and follow the creation run), upload, then fire and follow ``options.runs``
    times on a site (a started Twin: the embedded site); return the last run's summary, with
    every run in ``runs`` and the creation run in ``creation_run``."""
    chain = ChainRun(EmbeddedSite(site) if isinstance(site, Twin) else site, options, log)
    done: list[dict[str, Any]] = []
    try:
        chain.deploy()
        chain.creation_run()
        chain.upload_corpus()
        for number in range(1, options.runs + 1):
            log.prefix = f"run {number}/{options.runs}: " if options.runs > 1 else ""
            chain.fire_schedule()
            chain.follow()
            done.append(chain.summary())
    except Exception as exc:
        summary = (
            chain.summary()
            if chain.outputs
            else {
                "run_id": None,
                "creation_run": chain.creation,
                "access_denials": readback.access_denials(chain.probes, log),
                "stages": log.as_dict(),
            }
        )
        summary["error"] = str(exc)
        summary["runs"] = [run_line(run) for run in done]
        return summary
    summary = done[-1]
    summary["runs"] = [run_line(run) for run in done]
    return summary


def run_line(summary: dict[str, Any]) -> dict[str, Any]:
    """What the history table shows of one run."""
    keys = ("run_id", "status", "corpus_wer", "ci_low", "ci_high", "delta_wer")
    return {key: summary.get(key) for key in keys}
