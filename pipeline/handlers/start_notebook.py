"""Scheduled Lambda: start the SageMaker notebook instance that runs the accuracy notebook.

Safe whatever state the instance is in. The seed guide called StartNotebookInstance blindly,
which fails (and, with retries, fails again) whenever the instance is already running or
still stopping from the last run. Here only Stopped and Failed lead to a start; every other
state is a logged no-op, and a state change between describe and start is reported, not raised.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

from pipeline.errors import ConfigurationError, error_code
from pipeline.handlers import configure_logging

LOG = logging.getLogger(__name__)

STARTABLE = frozenset({"Stopped", "Failed"})
_NO_OP_REASONS = {
    "InService": "already running",
    "Pending": "already starting",
    "Stopping": "still stopping from the last run; the next scheduled run will start it",
    "Updating": "being updated; not started",
    "Deleting": "being deleted; not started",
}


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    configure_logging()
    name = os.environ.get("NOTEBOOK_INSTANCE_NAME", "").strip()
    if not name:
        raise ConfigurationError("environment variable NOTEBOOK_INSTANCE_NAME is not set")
    return start_instance(name, boto3.client("sagemaker"))


def _describe(name: str, client: Any) -> dict[str, Any]:
    try:
        return client.describe_notebook_instance(NotebookInstanceName=name)
    except ClientError as exc:
        if error_code(exc) == "ValidationException":  # AWS says "RecordNotFound"
            message = exc.response["Error"].get("Message", "")
            raise ConfigurationError(
                f"notebook instance {name!r} cannot be described: {message}"
            ) from exc
        raise


def _result(name: str, status: str, action: str, message: str) -> dict[str, str]:
    LOG.info("notebook instance %s: %s", name, message)
    return {"instance": name, "previous_status": status, "action": action, "message": message}


def start_instance(name: str, client: Any) -> dict[str, str]:
    """Start ``name`` if it is Stopped or Failed; otherwise explain why nothing was done."""
    description = _describe(name, client)
    status = description["NotebookInstanceStatus"]
    if status not in STARTABLE:
        reason = _NO_OP_REASONS.get(status, "in an unexpected state; not started")
        return _result(name, status, "none", f"{status}: {reason}")
    if status == "Failed":
        LOG.warning(
            "notebook instance %s is Failed (%s); starting it again",
            name,
            description.get("FailureReason", "no reason given"),
        )
    try:
        client.start_notebook_instance(NotebookInstanceName=name)
    except ClientError as exc:
        if error_code(exc) != "ValidationException":
            raise
        # The state moved between describe and start (someone else started or deleted it).
        try:
            now = _describe(name, client)["NotebookInstanceStatus"]
        except ConfigurationError:
            now = "gone"
        return _result(
            name,
            status,
            "none",
            f"{status}, but the start was refused because it is now {now}:"
            f" {exc.response['Error']['Message']}",
        )
    return _result(name, status, "started", f"{status}: start requested")
