"""Scheduled Lambda: start the SageMaker notebook instance that runs the accuracy notebook.

Safe whatever state the instance is in, and the second line of defence when a run did not stop
its instance:

    Stopped, Failed   start it (a state change between describe and start is reported)
    Stopping          wait for Stopped (bounded, STOPPED_WAIT_SECONDS), then start; if it is
                      still Stopping, the fire is skipped, and a note says so in the next message
    InService         a run is going, unless the instance has been InService for longer than
                      the run's limit (MAX_RUN_MINUTES) with no live heartbeat (the run writes
                      reports/<run_id>/heartbeat.json every minute; "live" is newer than
                      HEARTBEAT_MAX_AGE_SECONDS): then stop it, note why, and start a new run
                      as from Stopping
    Pending           already starting
    Updating          skipped, with a note; Deleting: nothing to do

Notes are items of the scores table (``pk = STARTER``, pipeline.results_table); ingest puts the
notes since the previous run into the next run's message. StopNotebookInstance is accepted only
from InService and StartNotebookInstance only from Stopped or Failed (SageMaker API reference),
so every call is preceded by a describe and a refusal is reported, never a crash loop.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
from botocore.exceptions import ClientError

from pipeline.aws import Clients
from pipeline.errors import ConfigurationError, error_code
from pipeline.handlers import configure_logging
from pipeline.layout import HEARTBEAT_NAME, REPORTS_PREFIX
from pipeline.results_table import put_item, starter_note_item

LOG = logging.getLogger(__name__)

STARTABLE = frozenset({"Stopped", "Failed"})
_NO_OP_REASONS = {
    "InService": "already running",
    "Pending": "already starting",
    "Deleting": "being deleted; not started",
}
# A run's id is made in Pending, before InService: its heartbeat is listed from this far before.
HEARTBEAT_LOOKBACK = timedelta(hours=1)
RUN_ID_TIME = "%Y-%m-%dT%H-%M-%SZ"
MIN_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class StarterConfig:
    """The starter's settings, from the environment the template sets."""

    instance: str
    results_bucket: str = ""  # where heartbeats are; "" skips the stuck-instance check
    table: str = ""  # where notes go; "" logs them only
    max_run_seconds: float | None = None
    heartbeat_max_age: float = 300.0
    stopped_wait: float = 240.0
    poll_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StarterConfig:
        name = env.get("NOTEBOOK_INSTANCE_NAME", "").strip()
        if not name:
            raise ConfigurationError("environment variable NOTEBOOK_INSTANCE_NAME is not set")
        max_minutes = _number(env, "MAX_RUN_MINUTES", None)
        return cls(
            instance=name,
            results_bucket=env.get("RESULTS_BUCKET", ""),
            table=env.get("SCORES_TABLE", ""),
            max_run_seconds=None if max_minutes is None else max_minutes * 60,
            heartbeat_max_age=_number(env, "HEARTBEAT_MAX_AGE_SECONDS", 300.0) or 0.0,
            stopped_wait=_number(env, "STOPPED_WAIT_SECONDS", 240.0) or 0.0,
            poll_seconds=_number(env, "POLL_SECONDS", 5.0) or 0.0,
        )


def _number(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigurationError(f"{name} must be a number of at least 0, got {raw!r}")
    return value


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configure_logging()
    return Starter(StarterConfig.from_env(), Clients(boto3.Session())).run()


@dataclass
class Starter:
    """One invocation: look at the instance, act, and say what was done."""

    config: StarterConfig
    clients: Clients
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.instance

    def run(self) -> dict[str, Any]:
        described = self._describe()
        status = described["NotebookInstanceStatus"]
        if status == "InService":
            stuck = self._stuck(described)
            if stuck is None:
                return self._result(status, "none", f"{status}: already running")
            self._stop(status, stuck)
            return self._start_when_stopped(status, "stopped and started")
        if status == "Stopping":
            return self._start_when_stopped(status, "started")
        if status == "Updating":
            self._note("skipped", f"skipped the scheduled start: {self.name} was being updated")
            return self._result(status, "skipped", f"{status}: being updated; not started")
        if status not in STARTABLE:
            reason = _NO_OP_REASONS.get(status, "in an unexpected state; not started")
            return self._result(status, "none", f"{status}: {reason}")
        return self._start(status, status, "started")

    # -- the instance ---------------------------------------------------------------------
    def _describe(self) -> dict[str, Any]:
        try:
            return self.clients("sagemaker").describe_notebook_instance(
                NotebookInstanceName=self.name
            )
        except ClientError as exc:
            if error_code(exc) == "ValidationException":  # AWS says "RecordNotFound"
                message = exc.response["Error"].get("Message", "")
                raise ConfigurationError(
                    f"notebook instance {self.name!r} cannot be described: {message}"
                ) from exc
            raise

    def _stuck(self, described: dict[str, Any]) -> str | None:
        """Why the InService instance is stuck (over the run's limit, no live heartbeat), or
        None while a run may still be going."""
        limit = self.config.max_run_seconds
        if limit is None or not self.config.results_bucket:
            return None
        since = described["LastModifiedTime"]
        now = datetime.now(timezone.utc)
        running = (now - since).total_seconds()
        if running <= limit:
            return None
        beat = self._latest_heartbeat(since)
        if beat is not None and (now - beat[1]).total_seconds() <= self.config.heartbeat_max_age:
            LOG.info(
                "notebook instance %s: over its limit, but run %s is alive", self.name, beat[0]
            )
            return None
        last = "no heartbeat" if beat is None else f"no heartbeat since {_when(beat[1])}"
        return (
            f"stopped {self.name}: InService for {running / 60:.0f} min, over the run's"
            f" {limit / 60:g}-minute limit, with {last}"
            + ("" if beat is None else f" (run {beat[0]})")
        )

    def _latest_heartbeat(self, since: datetime) -> tuple[str, datetime] | None:
        """(run id, last written) of the newest run's heartbeat object since ``since``."""
        start_after = REPORTS_PREFIX + (since - HEARTBEAT_LOOKBACK).strftime(RUN_ID_TIME)
        paginator = self.clients("s3").get_paginator("list_objects_v2")
        beats = [
            (obj["Key"][len(REPORTS_PREFIX) :].split("/", 1)[0], obj["LastModified"])
            for page in paginator.paginate(
                Bucket=self.config.results_bucket, Prefix=REPORTS_PREFIX, StartAfter=start_after
            )
            for obj in page.get("Contents", [])
            if obj["Key"].endswith("/" + HEARTBEAT_NAME)
        ]
        return max(beats) if beats else None

    def _stop(self, status: str, why: str) -> None:
        LOG.warning("notebook instance %s: %s; stopping it", self.name, why)
        self.clients("sagemaker").stop_notebook_instance(NotebookInstanceName=self.name)
        self._note("stopped", why)

    def _start_when_stopped(self, before: str, action: str) -> dict[str, Any]:
        """Wait, bounded, for Stopped; then start. Still not startable: skip, with a note."""
        deadline = time.monotonic() + self.config.stopped_wait
        status = self._describe()["NotebookInstanceStatus"]
        while status == "Stopping" and time.monotonic() < deadline:
            time.sleep(max(self.config.poll_seconds, MIN_POLL_SECONDS))
            status = self._describe()["NotebookInstanceStatus"]
        if status not in STARTABLE:
            waited = f"{self.config.stopped_wait:g} s"
            self._note(
                "skipped",
                f"skipped the scheduled start: {self.name} was still {status} after {waited}",
            )
            return self._result(before, "skipped", f"{before}: still {status} after {waited}")
        return self._start(before, status, action)

    def _start(self, before: str, status: str, action: str) -> dict[str, Any]:
        if status == "Failed":
            LOG.warning("notebook instance %s is Failed; starting it again", self.name)
        try:
            self.clients("sagemaker").start_notebook_instance(NotebookInstanceName=self.name)
        except ClientError as exc:
            if error_code(exc) != "ValidationException":
                raise
            # The state moved between describe and start (someone else started or deleted it).
            try:
                now = self._describe()["NotebookInstanceStatus"]
            except ConfigurationError:
                now = "gone"
            return self._result(
                before,
                "none",
                f"{status}, but the start was refused because it is now {now}:"
                f" {exc.response['Error']['Message']}",
            )
        return self._result(before, action, f"{before}: start requested")

    # -- reporting ------------------------------------------------------------------------
    def _note(self, kind: str, text: str) -> None:
        """Record ``text`` for the next run's message (ingest reads the notes)."""
        self.notes.append(text)
        LOG.warning("notebook instance %s: %s", self.name, text)
        if self.config.table:
            at = datetime.now(timezone.utc)
            put_item(
                self.config.table,
                starter_note_item(at, kind, f"{_when(at)}: {text}", self.name),
                self.clients("dynamodb"),
            )

    def _result(self, status: str, action: str, message: str) -> dict[str, Any]:
        LOG.info("notebook instance %s: %s", self.name, message)
        return {
            "instance": self.name,
            "previous_status": status,
            "action": action,
            "message": message,
            "notes": list(self.notes),
        }


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
