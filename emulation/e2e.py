"""`make e2e`: the whole chain on the twin, followed stage by stage, ending in a run summary.

Deploy ``deploy/template.yaml`` through the same code as ``make deploy``, upload a corpus, fire
the schedule, then follow what the deployed system does by itself: the starter Lambda starts the
notebook instance, its OnStart script runs the notebook (Transcribe jobs on the twin's speech
engine, scoring, report, scores CSV), S3 triggers the ingest Lambda, which writes DynamoDB and
publishes to SNS, and the instance stops itself. Nothing here calls the pipeline directly: it
only starts the chain and reads back, through AWS APIs, what happened.

TWIN picks the site (emulation/e2e_sites.py): ``embedded`` (default) starts the in-process twin;
``localstack`` uses LocalStack and the twin's container, started by ``docker compose up``
(docs/docker.md), and fails at once, in one line, when they are not there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer

from deploy.errors import DeployError
from deploy.stack import deploy_stack, stack_outputs
from deploy.template import load_template
from emulation.backends import BackendUnavailable, get_backend
from emulation.build import TwinConfig, build_twin
from emulation.cfn_repairs import declared_outputs, repair_stack
from emulation.e2e_sites import EmbeddedSite, LocalStackSite, Site
from emulation.notebook_host import NotebookHostConfig
from emulation.transcribe_engine.service import TranscribeConfig
from emulation.twin import Twin
from pipeline.errors import ConfigurationError, PipelineError
from pipeline.scores_csv import ScoreRow, ScoresCsvError, read_rows_from_bytes
from pipeline.transcribe import AUDIO_FORMATS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = PROJECT_ROOT / "corpus" / "sample"
TERMINAL_JOB_STATES = {"COMPLETED", "FAILED"}
# deploy_stack's words when a deployed stack reports fewer outputs than the template declares
# (deploy/stack.py, _show_outputs).
MISSING_OUTPUTS = "reports no value for declared output"
T = TypeVar("T")


class E2EError(PipelineError):
    """A stage of the chain did not complete; the message says which and why."""


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


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    status: str = "pending"  # ok | failed | pending
    detail: str = ""


class StageLog:
    """Times each stage and reports progress: rich on a terminal, plain lines otherwise."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.stages: list[Stage] = []
        self.out = out

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        stage = Stage(name)
        self.stages.append(stage)
        self.out(f"[stage] {name} ...")
        started = time.monotonic()
        try:
            yield stage
        except Exception as exc:
            stage.status, stage.detail = "failed", str(exc)
            raise
        finally:
            stage.seconds = round(time.monotonic() - started, 3)
        stage.status = "ok"
        suffix = f": {stage.detail}" if stage.detail else ""
        self.out(f"[stage] {name} ok in {stage.seconds:.1f} s{suffix}")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            s.name: {"seconds": s.seconds, "status": s.status, "detail": s.detail}
            for s in self.stages
        }


def wait_until(
    probe: Callable[[], T | None],
    *,
    deadline: float,
    what: str,
    fail: Callable[[], str | None] = lambda: None,
    interval: float = 0.25,
) -> T:
    """Poll ``probe`` until it returns something; ``fail`` returns a reason to stop early."""
    while True:
        result = probe()
        if result is not None:
            return result
        reason = fail()
        if reason:
            raise E2EError(f"{what}: {reason}")
        if time.monotonic() > deadline:
            raise E2EError(f"{what}: timed out")
        time.sleep(interval)


def corpus_files(corpus: Path) -> list[Path]:
    """The audio files and references of a local corpus folder (same layout as in S3)."""
    if not corpus.is_dir():
        raise E2EError(f"corpus {corpus} is not a folder")
    wanted = {f".{ext}" for ext in AUDIO_FORMATS} | {".txt"}
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    if not any(p.suffix.lower() != ".txt" for p in files):
        raise E2EError(f"corpus {corpus} holds no audio ({', '.join(sorted(AUDIO_FORMATS))})")
    return files


@dataclass
class Baseline:
    """What the stack already held when the schedule fired: with TWIN=localstack the stack
    outlives a run, so earlier runs' CSVs, jobs and dead letters are not this run's."""

    scores_keys: set[str] = field(default_factory=set)
    job_names: set[str] = field(default_factory=set)
    dead_letters: dict[str, int] = field(default_factory=dict)  # queue URL -> messages
    instance_modified: Any = None  # the instance's LastModifiedTime


class ChainRun:
    """One e2e run on a site: deploy, upload, fire and follow, then read back.

    Everything is followed and read back through AWS APIs (DescribeNotebookInstance,
    ListTranscriptionJobs, S3, DynamoDB, and an SQS queue subscribed to the alert topic), so the
    same run works on every site; the site adds what only it can tell (see e2e_sites.py).
    """

    def __init__(self, site: Site, options: E2EOptions, log: StageLog) -> None:
        self.site, self.options, self.log = site, options, log
        self.outputs: dict[str, str] = {}
        self.run_id: str | None = None
        self.audio_count = 0
        self.before = Baseline()
        self.moved = False  # the instance changed status after the schedule fired
        self.queue_url: str | None = None
        self.messages: list[dict[str, Any]] = []  # every notification read from the queue

    # -- stages ---------------------------------------------------------------------------
    def deploy(self) -> None:
        with self.log.stage("deploy") as stage:
            self.outputs, computed = deploy_outputs(
                self.site, self.options.stack, self.options.parameters
            )
            repairs = repair_stack(self.site, self.options.stack, template=load_template())
            self.subscribe()
            stage.detail = f"{len(repairs)} twin repairs"
            if computed:
                stage.detail += f"; outputs from the template: {', '.join(computed)}"

    def subscribe(self) -> None:
        """An SQS queue on the alert topic: the run's notification, read back like a subscriber
        (raw delivery off: the SNS envelope keeps Subject and MessageAttributes)."""
        sqs, topic = self.site.client("sqs"), self.outputs["AlertTopicArn"]
        self.queue_url = sqs.create_queue(QueueName=f"{self.options.stack}-e2e-notifications")[
            "QueueUrl"
        ]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
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
        sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
        self.site.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def upload_corpus(self) -> None:
        with self.log.stage("upload corpus") as stage:
            files = corpus_files(self.options.corpus)
            s3 = self.site.client("s3")
            prefix = self.options.upload_prefix or self.parameter("CorpusPrefix", "corpus/")
            for path in files:
                key = prefix + path.relative_to(self.options.corpus).as_posix()
                s3.upload_file(str(path), self.outputs["MediaBucketName"], key)
            self.audio_count = sum(1 for p in files if p.suffix.lower() != ".txt")
            stage.detail = f"{len(files)} files, {self.audio_count} audio"

    def fire_schedule(self) -> None:
        with self.log.stage("fire schedule"):
            name = self.outputs["NotebookInstanceName"]
            described = self.describe_instance(name)
            status = described["NotebookInstanceStatus"]
            if status not in ("Stopped", "Failed"):
                raise E2EError(
                    f"notebook instance {name} is {status} before the schedule fired: a run is "
                    "still going; wait until it is Stopped"
                )
            self.before = Baseline(
                scores_keys=set(self.scores_keys()),
                job_names={job["TranscriptionJobName"] for job in self.transcription_jobs()},
                dead_letters={url: self.dead_letter_count(url) for url in self.dead_letter_urls()},
                instance_modified=described.get("LastModifiedTime"),
            )
            self.moved = False
            self.site.fire(self.outputs["ScheduleRuleName"])

    def follow(self) -> None:
        deadline = time.monotonic() + self.options.timeout
        name = self.outputs["NotebookInstanceName"]
        with self.log.stage("instance start") as stage:
            wait_until(
                lambda: self.instance_started(name),
                deadline=deadline,
                what="notebook instance did not reach InService",
                fail=lambda: (
                    self.instance_failure(name)
                    or self.lambda_failure(
                        "StartNotebookFunctionName", "StartNotebookDeadLetterQueueUrl"
                    )
                ),
            )
            stage.detail = name
        with self.log.stage("transcribe") as stage:
            stage.detail = wait_until(
                self.transcription_done,
                deadline=deadline,
                what="transcription jobs did not finish",
                fail=lambda: self.instance_failure(name) or self.stopped_early(name),
                interval=0.5,
            )
        with self.log.stage("score + upload") as stage:
            self.run_id = wait_until(
                self.scores_run_id,
                deadline=deadline,
                what="no scores CSV was uploaded",
                fail=lambda: self.stopped_early(name, grace=True),
            )
            stage.detail = f"s3://{self.outputs['ResultsBucketName']}/scores/{self.run_id}.csv"
        with self.log.stage("ingest") as stage:
            wait_until(
                self.ingest_finished,
                deadline=deadline,
                what="ingest Lambda did not finish",
                fail=lambda: self.lambda_failure(
                    "IngestScoresFunctionName", "IngestScoresDeadLetterQueueUrl"
                ),
            )
            stage.detail = f"{len(self.dynamodb_items())} DynamoDB items"
        with self.log.stage("notification") as stage:
            message = wait_until(
                self.notification, deadline=deadline, what="no SNS notification for the run"
            )
            stage.detail = message["subject"]
        with self.log.stage("instance stop"):
            wait_until(
                lambda: self.instance_stopped(name),
                deadline=deadline,
                what="notebook instance did not stop",
            )

    # -- probes ---------------------------------------------------------------------------
    def parameter(self, name: str, default: str) -> str:
        return self.options.parameters.get(name, default)

    def describe_instance(self, name: str) -> dict[str, Any]:
        """DescribeNotebookInstance; notes whether the instance moved since the schedule fired
        (its status or LastModifiedTime changed), so an earlier run's Stopped or Failed does
        not count for this one."""
        described = self.site.client("sagemaker").describe_notebook_instance(
            NotebookInstanceName=name
        )
        modified = described.get("LastModifiedTime")
        if described["NotebookInstanceStatus"] in ("Pending", "InService", "Stopping") or (
            self.before.instance_modified is not None and modified != self.before.instance_modified
        ):
            self.moved = True
        return described

    def instance_started(self, name: str) -> bool | None:
        status = self.describe_instance(name)["NotebookInstanceStatus"]
        # Stopping or Stopped once it moved: it was InService between two polls.
        gone_past = self.moved and status in ("Stopping", "Stopped")
        return True if status == "InService" or gone_past else None

    def instance_stopped(self, name: str) -> bool | None:
        status = self.describe_instance(name)["NotebookInstanceStatus"]
        return True if status == "Stopped" and self.moved else None

    def instance_failure(self, name: str) -> str | None:
        described = self.describe_instance(name)
        if described["NotebookInstanceStatus"] == "Failed" and self.moved:
            return f"instance Failed: {described.get('FailureReason', 'no reason given')}"
        return None

    def stopped_early(self, name: str, grace: bool = False) -> str | None:
        """The instance stopped although the step we wait for never happened."""
        if self.instance_stopped(name) and (not grace or self.scores_run_id() is None):
            if grace:
                time.sleep(1.0)  # the CSV upload and the stop can race by a moment
                if self.scores_run_id() is not None:
                    return None
            tail = "\n".join(self.instance_log().splitlines()[-15:])
            return f"the instance stopped first; the end of its log:\n{tail}"
        return None

    def instance_log(self) -> str:
        """The OnStart hook's output and the run's log, as the instance wrote them."""
        name = self.outputs.get("NotebookInstanceName")
        return self.site.instance_log(name, self.run_id) if name else ""

    def lambda_failure(self, function_output: str, dead_letter_output: str) -> str | None:
        """The function failed for good: the site says so at once, or its dead-letter queue
        holds an event that was not there before the schedule fired."""
        function = self.outputs[function_output]
        error = self.site.lambda_error(function)
        if error:
            return error
        url = self.outputs.get(dead_letter_output)
        if not url or self.dead_letter_count(url) <= self.before.dead_letters.get(url, 0):
            return None
        return f"{function} failed after Lambda's retries: {self.dead_letter_reason(url)}"

    def transcription_done(self) -> str | None:
        jobs = [
            job
            for job in self.transcription_jobs()
            if job["TranscriptionJobName"] not in self.before.job_names
        ]
        finished = [j for j in jobs if j["TranscriptionJobStatus"] in TERMINAL_JOB_STATES]
        if self.scores_run_id() is not None or (
            len(jobs) >= self.audio_count and len(finished) == len(jobs)
        ):
            failed = sum(1 for j in finished if j["TranscriptionJobStatus"] == "FAILED")
            return f"{len(finished)} jobs finished, {failed} FAILED"
        return None

    def scores_run_id(self) -> str | None:
        keys = [key for key in self.scores_keys() if key not in self.before.scores_keys]
        return keys[0].removeprefix("scores/").removesuffix(".csv") if keys else None

    def ingest_finished(self) -> dict[str, Any] | None:
        """The run's NOTIFICATION item: ingest writes it last, once the message went out."""
        item = self.site.client("dynamodb").get_item(
            TableName=self.outputs["ScoresTableName"],
            Key={"pk": {"S": f"RUN#{self.run_id}"}, "sk": {"S": "NOTIFICATION"}},
            ConsistentRead=True,
        )
        return item.get("Item")

    def notification(self) -> dict[str, Any] | None:
        for message in self.notifications():
            if message["attributes"].get("run_id") == self.run_id:
                return message
        return None

    # -- read back ------------------------------------------------------------------------
    def scores_keys(self) -> list[str]:
        return [
            key
            for key in self.keys(self.outputs["ResultsBucketName"], "scores/")
            if key.endswith(".csv")
        ]

    def keys(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.site.client("s3").get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def transcription_jobs(self) -> list[dict[str, Any]]:
        transcribe = self.site.client("transcribe")
        jobs: list[dict[str, Any]] = []
        request: dict[str, Any] = {"MaxResults": 100}
        while True:
            page = transcribe.list_transcription_jobs(**request)
            jobs += page.get("TranscriptionJobSummaries", [])
            if not page.get("NextToken"):
                return jobs
            request["NextToken"] = page["NextToken"]

    def dead_letter_urls(self) -> list[str]:
        keys = ("StartNotebookDeadLetterQueueUrl", "IngestScoresDeadLetterQueueUrl")
        return [self.outputs[key] for key in keys if self.outputs.get(key)]

    def dead_letter_count(self, url: str) -> int:
        attributes = self.site.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def dead_letter_reason(self, url: str) -> str:
        """The error in a failure record of the queue (left in place: visibility 0)."""
        answer = self.site.client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0
        )
        for message in answer.get("Messages", []):
            with contextlib.suppress(ValueError, AttributeError):
                payload = json.loads(message["Body"]).get("responsePayload") or {}
                if payload.get("errorMessage"):
                    return f"{payload.get('errorType', 'Error')}: {payload['errorMessage']}"
        return f"a failure record reached its dead-letter queue {url}"

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification on the alert topic since deploy (the queue is drained into it)."""
        if self.queue_url is None:
            return self.messages
        sqs = self.site.client("sqs")
        while True:
            answer = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            received = answer.get("Messages", [])
            if not received:
                return self.messages
            for message in received:
                envelope = json.loads(message["Body"])
                attributes = envelope.get("MessageAttributes", {})
                self.messages.append(
                    {
                        "subject": envelope.get("Subject"),
                        "message": envelope.get("Message", ""),
                        "attributes": {k: v.get("Value") for k, v in attributes.items()},
                    }
                )
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(received)
                ],
            )

    def dynamodb_items(self) -> list[dict[str, Any]]:
        deserialize = TypeDeserializer().deserialize
        paginator = self.site.client("dynamodb").get_paginator("query")
        items = []
        for page in paginator.paginate(
            TableName=self.outputs["ScoresTableName"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RUN#{self.run_id}"}},
        ):
            items += [{k: plain(deserialize(v)) for k, v in item.items()} for item in page["Items"]]
        return items

    def results_object(self, key: str) -> bytes | None:
        s3 = self.site.client("s3")
        try:
            return s3.get_object(Bucket=self.outputs["ResultsBucketName"], Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    def score_rows(self) -> tuple[list[ScoreRow], str | None]:
        """The run's scores CSV through the project's strict reader, or why it can't be read."""
        scores = self.results_object(f"scores/{self.run_id}.csv")
        if scores is None:
            return [], None
        try:
            return list(read_rows_from_bytes([scores])), None
        except ScoresCsvError as exc:
            return [], str(exc)

    def summary(self) -> dict[str, Any]:
        """The run summary `make e2e` writes: what the site holds for this run, read back."""
        report = self.results_object(f"reports/{self.run_id}/summary.json")
        report_summary = json.loads(report) if report else {}
        texts = {f["file"]: f for f in report_summary.get("files", [])}
        rows, scores_error = self.score_rows()
        files = [
            {
                "file": row.file,
                "status": row.status,
                "error": row.error or None,
                "reference": texts.get(row.file, {}).get("reference"),
                "hypothesis": texts.get(row.file, {}).get("hypothesis"),
                "wer": row.wer,
                "ref_words": row.ref_words,
                "substitutions": row.substitutions,
                "deletions": row.deletions,
                "insertions": row.insertions,
            }
            for row in rows
        ]
        items = self.dynamodb_items()
        run_item = next((i for i in items if i.get("sk") == "SUMMARY"), {})
        name = self.outputs.get("NotebookInstanceName")
        instance = self.describe_instance(name) if name else {}
        return {
            "twin": self.site.name,
            "run_id": self.run_id,
            "corpus_wer": run_item.get("corpus_wer", report_summary.get("corpus_wer")),
            "ci_low": run_item.get("ci_low", report_summary.get("ci_low")),
            "ci_high": run_item.get("ci_high", report_summary.get("ci_high")),
            "status": run_item.get("status"),
            "files": files,
            "scores_error": scores_error,
            "dynamodb_items": items,
            "notifications": [
                n for n in self.notifications() if n["attributes"].get("run_id") == self.run_id
            ],
            "instance_status": instance.get("NotebookInstanceStatus"),
            "report_keys": sorted(self.report_keys()) if self.run_id else [],
            "instance_log": self.instance_log(),
            "report_files": self.report_files(),
            "stages": self.log.as_dict(),
        }

    def report_keys(self) -> list[str]:
        return self.keys(self.outputs["ResultsBucketName"], f"reports/{self.run_id}/")

    def report_files(self) -> dict[str, bytes]:
        """The run's HTML report and executed notebook, to keep beside the run summary."""
        if not self.run_id:
            return {}
        wanted = ("report.html", "transcribe_and_score.ipynb")
        found = {name: self.results_object(f"reports/{self.run_id}/{name}") for name in wanted}
        return {name: body for name, body in found.items() if body is not None}


def deploy_outputs(
    site: Site, stack: str, parameters: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Deploy the stack; return its outputs and the ones computed from the template.

    An emulator may deploy the stack yet report fewer outputs than the template declares
    (deploy_stack then refuses); those are evaluated from the template against the stack.
    """
    try:
        return deploy_stack(site, stack, parameters, poll_seconds=0.2), []
    except DeployError as error:
        if MISSING_OUTPUTS not in str(error):
            raise
    reported = stack_outputs(site.client("cloudformation"), stack)
    declared = declared_outputs(site, stack, template=load_template())
    computed = sorted(set(declared) - set(reported))
    return {**declared, **reported}, computed


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints or floats, so the summary is plain JSON."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int | float):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def twin_config(options: E2EOptions, sandbox: Path) -> TwinConfig:
    """The twin for e2e: the instance's python is this venv's, with the speech engine chosen."""
    return TwinConfig(
        lambda_retry_delays=options.lambda_retry_delays,
        notebooks=NotebookHostConfig(
            sandbox_root=sandbox,
            extra_env={
                "ASR_PYTHON": sys.executable,
                "ASR_ENGINE_LABEL": f"twin:{options.engine}",
                "ASR_POLL_INTERVAL": "1",
                "HF_HUB_OFFLINE": "1",
            },
        ),
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
        raise ConfigurationError(
            f"make e2e runs on TWIN=embedded or TWIN=localstack, not TWIN={backend.name}"
        )
    with log.stage("start twin"):
        twin = build_twin(twin_config(options, options.runs_dir / "sandbox")).start()
    try:
        yield EmbeddedSite(twin)
    finally:
        twin.stop()


def run_chain(site: Site | Twin, options: E2EOptions, log: StageLog) -> dict[str, Any]:
    """Deploy, upload, fire, follow and read back on a site (a started Twin: the embedded
    site); return the run summary."""
    chain = ChainRun(EmbeddedSite(site) if isinstance(site, Twin) else site, options, log)
    try:
        chain.deploy()
        chain.upload_corpus()
        chain.fire_schedule()
        chain.follow()
    except Exception as exc:
        summary = chain.summary() if chain.outputs else {"run_id": None, "stages": log.as_dict()}
        summary["error"] = str(exc)
        return summary
    return chain.summary()


def print_report(summary: dict[str, Any], out: Any) -> None:
    """The per-file scores table, the corpus WER with its interval and the notification text."""
    from rich.table import Table

    table = Table(title=f"run {summary.get('run_id')}")
    for column in ("file", "status", "error"):
        table.add_column(column, overflow="fold")
    for column in ("WER", "ref words", "S", "D", "I"):
        table.add_column(column, justify="right")
    for f in summary.get("files", []):
        wer = "" if f["wer"] is None else f"{100 * f['wer']:.1f}%"
        counts = ("ref_words", "substitutions", "deletions", "insertions")
        table.add_row(
            f["file"],
            f["status"],
            f["error"] or "",
            wer,
            *("" if f[k] is None else str(f[k]) for k in counts),
        )
    out.print(table)
    wer = summary.get("corpus_wer")
    if wer is not None:
        out.print(
            f"corpus WER {100 * wer:.2f}% "
            f"(95% CI {100 * summary['ci_low']:.2f}% to {100 * summary['ci_high']:.2f}%)"
        )
    for note in summary.get("notifications", []):
        out.print(
            f"\nnotification: {note['subject']}\n{note['message']}", markup=False, soft_wrap=True
        )
    if summary.get("error"):
        out.print(f"[bold red]e2e failed:[/] {summary['error']}")


def write_summary(summary: dict[str, Any], runs_dir: Path) -> Path:
    name = summary.get("run_id") or time.strftime("failed-%Y%m%dT%H%M%SZ", time.gmtime())
    path = runs_dir / name / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = dict(summary)
    (path.parent / "instance.log").write_text(summary.pop("instance_log", ""), encoding="utf-8")
    for name, body in summary.pop("report_files", {}).items():
        (path.parent / name).write_bytes(body)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def succeeded(summary: dict[str, Any]) -> bool:
    stages_ok = all(s["status"] == "ok" for s in summary["stages"].values())
    return stages_ok and not summary.get("error") and summary.get("status") != "FAILED"


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(prog="python -m emulation e2e", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--stack", default=E2EOptions.stack)
    parser.add_argument(
        "--engine",
        default=E2EOptions.engine,
        help="the twin's speech engine (TWIN=embedded; the twin's container chooses its own)",
    )
    parser.add_argument("--timeout", type=float, default=E2EOptions.timeout)
    parser.add_argument("--runs-dir", type=Path, default=E2EOptions.runs_dir)
    args = parser.parse_args(argv)
    options = E2EOptions(
        corpus=args.corpus.resolve(),
        stack=args.stack,
        engine=args.engine,
        timeout=args.timeout,
        runs_dir=args.runs_dir.resolve(),
    )
    console = Console(highlight=False)
    log = StageLog(lambda line: console.print(line, markup=False))
    started = time.monotonic()
    try:
        with open_site(options, log) as site:
            summary = run_chain(site, options, log)
    except (BackendUnavailable, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary["total_seconds"] = round(time.monotonic() - started, 3)
    print_report(summary, console)
    path = write_summary(summary, options.runs_dir)
    report = path.parent / "report.html"
    if report.exists():
        console.print(f"report: {report}", markup=False)
    print(path)
    return 0 if succeeded(summary) else 1
