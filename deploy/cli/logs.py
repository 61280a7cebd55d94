"""``asr-monitor logs``: a run's log, or a function's, on AWS or a twin.

A run's log is ``reports/<run_id>/run.log`` in the results bucket: the instance uploads it
every minute while the run goes (with its heartbeat) and at the end. Without ``--run-id`` the
newest run's is shown (run ids sort by time). ``--follow`` prints what is added as it is
uploaded, until the run is over: its scores CSV is there and the instance stopped; when a run
is starting and the newest log is the previous run's, it waits for the new one.

A function's log is its CloudWatch Logs group ``/aws/lambda/<name>`` (Lambda writes it; so does
the twin), from ``--since`` ago; ``--follow`` keeps printing new events until Ctrl-C, like
``sam logs --tail``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from deploy.cli.functions import function_name
from deploy.errors import DeployError
from deploy.stack import stack_outputs
from pipeline.errors import error_code
from pipeline.layout import REPORTS_PREFIX, RUN_LOG_NAME, report_key, scores_key

if TYPE_CHECKING:
    from deploy.cli.target import Target

Write = Callable[[str], None]
RUNNING = ("Pending", "InService", "Stopping")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# How long --follow waits for a starting run to upload its first log.
NEW_RUN_WAIT_SECONDS = 600.0


def parse_since(text: str) -> timedelta:
    """``10m``, ``2h``, ``1d`` ... as a duration."""
    match = _DURATION.match(text.strip())
    if not match:
        raise DeployError(f"--since {text!r}: give a number and a unit: 30s, 10m, 2h or 1d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class RunLog:
    """One stack's run logs in its results bucket."""

    def __init__(self, target: Target, interval: float = 2.0) -> None:
        outputs = stack_outputs(target.client("cloudformation"), target.stack)
        self.stack = target.stack
        self.bucket = outputs["ResultsBucketName"]
        self.instance = outputs["NotebookInstanceName"]
        self.s3 = target.client("s3")
        self.sagemaker = target.client("sagemaker")
        self.interval = interval

    def run_ids(self) -> list[str]:
        """Every run with a report folder, oldest first."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=REPORTS_PREFIX, Delimiter="/"
        )
        prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        return sorted(prefix[len(REPORTS_PREFIX) : -1] for prefix in prefixes)

    def show(self, run_id: str | None, write: Write) -> str:
        """Print a run's whole log; return its run id."""
        run_id = run_id or self._newest()
        text = self._read(run_id, 0)
        if text is None:
            key = report_key(run_id, RUN_LOG_NAME)
            raise DeployError(f"run {run_id} has no log yet (s3://{self.bucket}/{key})")
        write(text)
        return run_id

    def follow(self, run_id: str | None, write: Write) -> str:
        """Print a run's log as it grows, until the run is over; return its run id."""
        run_id = run_id or self._following()
        offset = 0
        while True:
            over = self._over(run_id)  # asked first: the last upload comes before the stop
            text = self._read(run_id, offset)
            if text:
                write(text)
                offset += len(text.encode("utf-8"))
            if over:
                return run_id
            time.sleep(self.interval)

    def _newest(self) -> str:
        runs = self.run_ids()
        if not runs:
            raise DeployError(
                f"stack {self.stack} has no run yet (s3://{self.bucket}/{REPORTS_PREFIX} is "
                "empty); start one: asr-monitor run-now"
            )
        return runs[-1]

    def _following(self) -> str:
        """The newest run; while the instance is starting a run whose log is not up yet (the
        newest one is over), the new one once it appears."""
        runs = self.run_ids()
        deadline = time.monotonic() + NEW_RUN_WAIT_SECONDS
        while self._instance_status() in RUNNING and (not runs or self._finished(runs[-1])):
            if time.monotonic() > deadline:
                break
            time.sleep(self.interval)
            runs = self.run_ids()
        if not runs:
            return self._newest()
        return runs[-1]

    def _over(self, run_id: str) -> bool:
        return self._finished(run_id) and self._instance_status() not in RUNNING

    def _finished(self, run_id: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=scores_key(run_id))
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _instance_status(self) -> str:
        described = self.sagemaker.describe_notebook_instance(NotebookInstanceName=self.instance)
        return str(described["NotebookInstanceStatus"])

    def _read(self, run_id: str, offset: int) -> str | None:
        """The log from byte ``offset`` ("" when nothing was added; None: no log)."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": report_key(run_id, RUN_LOG_NAME)}
        if offset:
            request["Range"] = f"bytes={offset}-"
        try:
            body = self.s3.get_object(**request)["Body"].read()
        except ClientError as exc:
            code = error_code(exc)
            if code == "InvalidRange":  # nothing past the offset yet
                return ""
            if code in ("NoSuchKey", "404"):
                return None
            raise
        return body.decode("utf-8", "replace")


def function_log(
    target: Target,
    function: str,
    *,
    since: timedelta,
    follow: bool,
    write: Write,
    interval: float = 2.0,
    until: Callable[[], bool] = lambda: False,
) -> str:
    """Print a function's CloudWatch Logs events (``follow``: until Ctrl-C or ``until()``);
    return the function's name."""
    name = function_name(target.client("cloudformation"), target.stack, function)
    logs = target.client("logs")
    group = f"/aws/lambda/{name}"
    start = int((datetime.now(UTC) - since).timestamp() * 1000)
    seen: set[str] = set()
    while True:
        try:
            pages = logs.get_paginator("filter_log_events").paginate(
                logGroupName=group, startTime=start
            )
            events = [event for page in pages for event in page.get("events", [])]
        except logs.exceptions.ResourceNotFoundException as exc:
            raise DeployError(f"{name} has written no log yet (no log group {group})") from exc
        for event in sorted(events, key=lambda e: (e["timestamp"], e.get("eventId", ""))):
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            start = max(start, event["timestamp"])
            moment = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
            write(f"{moment:%Y-%m-%dT%H:%M:%S}Z {event['message'].rstrip()}\n")
        if not follow or until():
            return name
        time.sleep(interval)
