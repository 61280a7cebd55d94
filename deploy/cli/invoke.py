"""``asr-monitor invoke FUNCTION --event FILE``: run a stack's function once with an event.

Like ``sam local invoke -e``, but against the deployed function (on AWS or a twin): one
synchronous invocation (RequestResponse, one attempt), its result on stdout and the end of its
log (LogType Tail: the last 4 KB) on stderr. FUNCTION is the template's logical id
(``IngestFunction``) or the function's name.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploy.cli.functions import function_name
from deploy.errors import DeployError
from deploy.run_now import INVOKE_CONFIG

if TYPE_CHECKING:
    from deploy.cli.target import Target


class InvokeError(DeployError):
    """The event could not be read, or the function failed (its error is in the message, the
    end of its log in ``log``)."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


def read_event(path: str | None) -> Any:
    """The event from a JSON file (``-``: standard input; None: ``{}``)."""
    if path is None:
        return {}
    where = "standard input" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvokeError(f"event {where}: cannot read it: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvokeError(
            f"event {where}: not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def invoke(target: Target, function: str, event: Any) -> tuple[str, Any, str]:
    """Invoke once; return (function name, its result, the end of its log). A function error
    raises InvokeError with AWS's error object."""
    name = function_name(target.client("cloudformation"), target.stack, function)
    response = target.client("lambda", config=INVOKE_CONFIG).invoke(
        FunctionName=name,
        InvocationType="RequestResponse",
        LogType="Tail",
        Payload=json.dumps(event).encode(),
    )
    raw = response["Payload"].read()
    log = base64.b64decode(response.get("LogResult") or b"").decode("utf-8", "replace")
    result = json.loads(raw) if raw else None
    if response.get("FunctionError"):
        error = result if isinstance(result, dict) else {}
        raise InvokeError(
            f"{name} failed ({response['FunctionError']}): "
            f"{error.get('errorType', 'Error')}: {error.get('errorMessage', raw.decode())}",
            log,
        )
    return name, result, log
