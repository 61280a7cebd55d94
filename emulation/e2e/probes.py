"""What the chain looks at while it waits, through AWS APIs only, so every site answers alike.

``RunProbes`` holds what the chain knows of its run (the stack's outputs, the run id once the
scores CSV appears, what the stack held before the schedule fired) and asks AWS the questions
each stage waits on: is the instance InService, are the jobs done, is the CSV there, did ingest
finish, did the message arrive, did a Lambda fail for good.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.layout import SCORES_PREFIX, SCORES_SUFFIX, run_id_of_scores_key
from pipeline.results_table import NOTIFICATION_SK, get_item, is_notification_sent, run_pk
from pipeline.transcribe.progress import count_line

if TYPE_CHECKING:
    from datetime import datetime

    from emulation.e2e.sites import Site

# Where SageMaker writes a lifecycle hook's output (SageMaker developer guide).
HOOK_LOG_GROUP = "/aws/sagemaker/NotebookInstances"
HOOK_LOG_STREAM = "LifecycleConfigOnStart"

TERMINAL_JOB_STATES = {"COMPLETED", "FAILED"}


@dataclass
class Baseline:
    """What the stack already held when the schedule fired: with TWIN=localstack the stack
    outlives a run, so earlier runs' CSVs, jobs and dead letters are not this run's."""

    scores_keys: set[str] = field(default_factory=set)
    job_names: set[str] = field(default_factory=set)
    dead_letters: dict[str, int] = field(default_factory=dict)  # queue URL -> messages
    instance_modified: Any = None  # the instance's LastModifiedTime


class RunProbes:
    """One run's view of the site: its state, and the questions the stages poll."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.outputs: dict[str, str] = {}
        self.run_id: str | None = None
        self.audio_count = 0
        self.before = Baseline()
        self.moved = False  # the instance changed status after the schedule fired
        self.queue_url: str | None = None
        self.messages: list[dict[str, Any]] = []  # every notification read from the queue
        self.roles: dict[str, str] = {}  # "starter" | "ingest" | "notebook" -> role name
        self.blamed: dict[int, Any] = {}  # the AccessDenied records a stage failed on
        self.fired_ms = 0  # when the schedule fired (ms since the epoch)

    def take_baseline(self, instance_modified: Any) -> None:
        self.fired_ms = int(time.time() * 1000)
        self.before = Baseline(
            scores_keys=set(self.scores_keys()),
            job_names={job["TranscriptionJobName"] for job in self.transcription_jobs()},
            dead_letters={url: self.dead_letter_count(url) for url in self.dead_letter_urls()},
            instance_modified=instance_modified,
        )
        self.moved = False

    # -- the notebook instance ------------------------------------------------------------
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

    def settled_instance(self, name: str) -> dict[str, Any] | None:
        """The instance described once it is Stopped or Failed (no run going)."""
        described = self.describe_instance(name)
        return described if described["NotebookInstanceStatus"] in ("Stopped", "Failed") else None

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
            # SageMaker's reason names no cause ("took longer than 5 minutes"): the log does.
            tail = "\n".join(self.instance_log().splitlines()[-10:])
            reason = described.get("FailureReason", "no reason given")
            return f"instance Failed: {reason}\nthe end of its log:\n{tail}"
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

    # -- IAM ------------------------------------------------------------------------------
    def learn_roles(self) -> None:
        """The roles the stack's code runs as, read from the functions and the instance."""
        lambdas = self.site.client("lambda")
        for key, output in (("starter", "StartNotebookFunctionName"),
                            ("ingest", "IngestScoresFunctionName")):  # fmt: skip
            config = lambdas.get_function_configuration(FunctionName=self.outputs[output])
            self.roles[key] = config["Role"].rsplit("/", 1)[-1]
        instance = self.describe_instance(self.outputs["NotebookInstanceName"])
        self.roles["notebook"] = instance["RoleArn"].rsplit("/", 1)[-1]

    def access_denied(self, *roles: str, before: datetime | None = None) -> str | None:
        """The first request by one of ``roles`` ("starter", "ingest", "notebook") the site
        refused as AWS's IAM would, as the reason a stage fails; every AccessDenied is one,
        also those AWS answers silently (a function's lost log lines). ``before``: only
        refusals before that moment."""
        names = {self.roles.get(role, role) for role in roles}
        for denial in self.site.access_denials():
            role = denial.principal.split("/")[1] if "/" in denial.principal else ""
            if role in names and (before is None or denial.at < before):
                self.blamed.setdefault(id(denial), denial)
                return f"AccessDenied ({denial.via}): {denial.message}"
        return None

    # -- CloudWatch Logs -------------------------------------------------------------------
    def function_reported(self, function_output: str) -> bool | None:
        """The function's REPORT line reached CloudWatch Logs since the schedule fired: its
        last invocation ended and Lambda could write its logs."""
        group = f"/aws/lambda/{self.outputs[function_output]}"
        logs = self.site.client("logs")
        try:
            events = logs.filter_log_events(logGroupName=group, startTime=self.fired_ms)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return True if any(e["message"].startswith("REPORT ") for e in events) else None

    def hook_logged(self, name: str) -> bool | None:
        """The OnStart hook's output reached its CloudWatch Logs stream since the schedule."""
        logs = self.site.client("logs")
        try:
            streams = logs.describe_log_streams(
                logGroupName=HOOK_LOG_GROUP, logStreamNamePrefix=f"{name}/{HOOK_LOG_STREAM}"
            )["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        latest = max((s.get("lastIngestionTime", 0) for s in streams), default=0)
        return True if latest >= self.fired_ms else None

    # -- Lambda ---------------------------------------------------------------------------
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

    # -- Transcribe -----------------------------------------------------------------------
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

    def run_jobs(self) -> list[dict[str, Any]]:
        """This run's jobs: those that were not there when the schedule fired."""
        return [
            job
            for job in self.transcription_jobs()
            if job["TranscriptionJobName"] not in self.before.job_names
        ]

    def transcription_done(self, jobs: list[dict[str, Any]]) -> str | None:
        finished = [j for j in jobs if j["TranscriptionJobStatus"] in TERMINAL_JOB_STATES]
        if self.scores_run_id() is not None or (
            len(jobs) >= self.audio_count and len(finished) == len(jobs)
        ):
            failed = sum(1 for j in finished if j["TranscriptionJobStatus"] == "FAILED")
            return f"{len(finished)} jobs finished, {failed} FAILED"
        return None

    # -- S3 -------------------------------------------------------------------------------
    def keys(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.site.client("s3").get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def scores_keys(self) -> list[str]:
        return [
            key
            for key in self.keys(self.outputs["ResultsBucketName"], SCORES_PREFIX)
            if key.endswith(SCORES_SUFFIX)
        ]

    def scores_run_id(self) -> str | None:
        keys = [key for key in self.scores_keys() if key not in self.before.scores_keys]
        return run_id_of_scores_key(keys[0]) if keys else None

    def results_object(self, key: str) -> bytes | None:
        s3 = self.site.client("s3")
        try:
            return s3.get_object(Bucket=self.outputs["ResultsBucketName"], Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    # -- DynamoDB and SNS -----------------------------------------------------------------
    def ingest_finished(self) -> dict[str, Any] | None:
        """The run's NOTIFICATION item once it says sent: ingest marks it last, after the message
        went out (before that it holds the publisher's claim)."""
        if self.run_id is None:
            return None
        table = self.outputs["ScoresTableName"]
        dynamodb = self.site.client("dynamodb")
        marker = get_item(table, run_pk(self.run_id), NOTIFICATION_SK, dynamodb)
        return marker if marker is not None and is_notification_sent(marker) else None

    def notification(self) -> dict[str, Any] | None:
        for message in self.notifications():
            if message["attributes"].get("run_id") == self.run_id:
                return message
        return None

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


def job_counts(jobs: list[dict[str, Any]], expected: int) -> str:
    """E.g. "12 files: 3 queued, 2 running, 6 done, 1 failed" (not started yet: queued)."""
    statuses = Counter(job["TranscriptionJobStatus"] for job in jobs)
    waiting = statuses["QUEUED"] + max(0, expected - len(jobs))
    return count_line(
        max(expected, len(jobs)),
        waiting,
        statuses["IN_PROGRESS"],
        statuses["COMPLETED"],
        statuses["FAILED"],
    )
