"""Runs one Lambda invocation inside the twin's sandbox process, the way AWS's Python runtime does.

Started by ``emulation.awslambda.sandbox`` as ``python -I -S bootstrap.py CODE_DIR DEPS_DIR
EVENT_FILE RESULT_FILE REQUEST_ID DEADLINE_MS FUNCTION_ARN``. ``-I -S`` leave only the standard
library importable; this script then adds the function's code directory (first, like
``/var/task``) and the directory of runtime packages (boto3 and its dependencies, last, like
``/var/runtime``). So a handler that imports anything else fails here as it would in AWS.

It uses the standard library only and never imports ``emulation``. The outcome goes to
RESULT_FILE as JSON; stdout and stderr are the function's logs.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The context object AWS passes as the handler's second argument."""

    def __init__(self, request_id: str, deadline_ms: int, function_arn: str) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = request_id
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class RuntimeFailure(Exception):
    """A failure of the runtime itself (bad handler name, import error), typed like AWS's."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(handler: str) -> Any:
    """Import ``module.function`` (dots or slashes in the module path), as AWS does."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        message = f"Bad handler '{handler}': {exc}"
        raise RuntimeFailure("Runtime.MalformedHandlerName", message) from exc
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        raise RuntimeFailure("Runtime.UserCodeSyntaxError", message) from exc
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        raise RuntimeFailure("Runtime.ImportModuleError", message) from exc
    try:
        return getattr(module, function_name)
    except AttributeError as exc:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise RuntimeFailure("Runtime.HandlerNotFound", message) from exc


def configure_logging(request_id: str) -> None:
    """Root logger as in AWS: level WARNING, each record tagged with the request id."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            f"[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t{request_id}\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    logging.getLogger().addHandler(handler)


def error_result(exc: Exception, request_id: str) -> dict[str, Any]:
    """AWS's error payload (errorMessage, errorType, requestId, stackTrace) plus the traceback."""
    if isinstance(exc, RuntimeFailure):
        error_type, frames = exc.error_type, []  # AWS shows no frames for runtime failures
    else:
        error_type, frames = type(exc).__name__, traceback.extract_tb(exc.__traceback__)
    payload = {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }
    return {
        "ok": False,
        "payload": json.dumps(payload),
        "errorType": error_type,
        "errorMessage": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def invoke(event_file: str, request_id: str, deadline_ms: int, function_arn: str) -> dict[str, Any]:
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except RuntimeFailure as exc:
        return error_result(exc, request_id)
    with open(event_file, encoding="utf-8") as stream:
        event = json.load(stream)
    try:
        result = handler(event, LambdaContext(request_id, deadline_ms, function_arn))
    except Exception as exc:
        # Show the handler's frames only, not this bootstrap's call into it.
        return error_result(exc.with_traceback(exc.__traceback__.tb_next), request_id)
    try:
        return {"ok": True, "payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        failure = RuntimeFailure("Runtime.MarshalError", f"Unable to marshal response: {exc}")
        return error_result(failure, request_id)


def peak_memory_kb() -> int:
    """Peak RSS of this process since exec (VmHWM): unlike getrusage, it excludes the parent."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> None:
    code_dir, deps_dir, event_file, result_file, request_id, deadline_ms, function_arn = argv
    sys.path.insert(0, code_dir)
    sys.path.append(deps_dir)
    configure_logging(request_id)
    outcome = invoke(event_file, request_id, int(deadline_ms), function_arn)
    if not outcome["ok"]:
        # What AWS's runtime prints to the function's log for an unhandled error.
        print(f"[ERROR] {outcome['errorType']}: {outcome['errorMessage']}", file=sys.stderr)
        print(outcome["traceback"], file=sys.stderr, end="")
    sys.stdout.flush()
    sys.stderr.flush()
    outcome["maxMemoryKB"] = peak_memory_kb()
    with open(result_file, "w", encoding="utf-8") as stream:
        json.dump(outcome, stream)


if __name__ == "__main__":
    main(sys.argv[1:])
