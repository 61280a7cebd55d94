"""``python -m deploy run-now``: start a run now, as the schedule does, by invoking the starter.

The starter Lambda is the one path that starts runs (it waits for an instance still stopping,
stops one stuck past its limit, and refuses to disturb a live run), so this invokes it and shows
its answer rather than calling StartNotebookInstance itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from deploy.errors import DeployError
from deploy.stack import stack_outputs

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from deploy.progress import Reporter

# The starter may wait up to its Timeout (300 s) for a stopping instance; one attempt only, so
# a slow answer is never a second start.
INVOKE_READ_TIMEOUT = 330
INVOKE_CONFIG = Config(read_timeout=INVOKE_READ_TIMEOUT, retries={"total_max_attempts": 1})
RUN_NOW_EVENT = {"source": "asr-monitor.run-now", "detail-type": "Run now"}


def run_now(
    cfn: BaseClient, lam: BaseClient, stack_name: str, *, reporter: Reporter
) -> dict[str, Any]:
    """Invoke the stack's starter synchronously (``lam`` made with INVOKE_CONFIG); return its
    answer: action, message, notes."""
    outputs = stack_outputs(cfn, stack_name)
    function = outputs["StartNotebookFunctionName"]
    reporter.step(f"Invoking {function}")
    response = lam.invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(RUN_NOW_EVENT).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        error = payload or {}
        raise DeployError(
            f"{function} failed: {error.get('errorType', 'Error')}: {error.get('errorMessage')}"
        )
    reporter.info(f"{payload['instance']}: {payload['message']}")
    for note in payload.get("notes", []):
        reporter.info(f"note for the next message: {note}")
    if payload["action"] in ("started", "stopped and started"):
        reporter.info(
            f"the run's message goes to {outputs['AlertTopicArn']}; its log and report appear "
            f"under s3://{outputs['ResultsBucketName']}/reports/<run_id>/"
        )
    return payload
