"""The twin's control API: what a process outside the twin asks of it, on the twin's endpoint.

A twin running in the background (``asr-monitor twin start``) serves other processes: ``make
e2e``, the tests, the command line. The AWS APIs answer most of what they ask; this answers
what only the twin knows or can do, under ``/_twin/`` (LocalStack keeps ``/_localstack/`` for
the same purpose), as JSON:

    GET  /_twin/health                                   what this twin is (pid, parts, counts)
    POST /_twin/events/rules/<rule>/fire                  fire a scheduled rule now
    GET  /_twin/lambda/functions/<name>/failure?since=    its error once its last retry failed
    GET  /_twin/sagemaker/notebook-instances/<name>/log?run_id=   hook output and run logs
    GET  /_twin/sagemaker/notebook-instances/<name>/processes     pids of its latest start
    GET  /_twin/iam/access-denials?since=                 requests refused as IAM would

``since`` is an ISO 8601 time: a long-lived twin holds earlier runs' records too.
``emulation.core.control_client`` is the client.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from emulation.core.control_client import SERVICE
from emulation.core.errors import EmulationError
from emulation.core.inspector import Inspector
from emulation.events.scheduler import Scheduler, SchedulerError
from emulation.iam.authorizer import IamEnforcement
from emulation.sagemaker.notebook_host import NotebookHost

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulation.core.twin import Twin

PREFIX = "/_twin/"

_ROUTES = Map(
    [
        Rule("/_twin/health", endpoint="health", methods=["GET"]),
        Rule("/_twin/events/rules/<rule>/fire", endpoint="fire", methods=["POST"]),
        Rule("/_twin/lambda/functions/<function>/failure", endpoint="failure", methods=["GET"]),
        Rule("/_twin/sagemaker/notebook-instances/<name>/log", endpoint="log", methods=["GET"]),
        Rule(
            "/_twin/sagemaker/notebook-instances/<name>/processes",
            endpoint="processes",
            methods=["GET"],
        ),
        Rule("/_twin/iam/access-denials", endpoint="denials", methods=["GET"]),
    ]
)


class ControlApi:
    """A WSGI app over one twin (mounted on its server by ``core.build``)."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.started_at = datetime.now().astimezone().isoformat()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, values = _ROUTES.bind_to_environ(environ).match()
            body = getattr(self, f"_{endpoint}")(request, **values)
            response = _json(body)
        except HTTPException as exc:
            response = _json({"error": exc.description}, exc.code or 500)
        except EmulationError as exc:  # a part this twin was built without, for example
            response = _json({"error": str(exc)}, 400)
        return response(environ, start_response)

    def _health(self, request: Request) -> dict[str, Any]:
        inspector = Inspector(self.twin)
        iam = self.twin.find_part(IamEnforcement)
        return {
            "service": SERVICE,
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "endpoint": self.twin.endpoint_url,
            "region": self.twin.region,
            "account_id": self.twin.account_id,
            "started_at": self.started_at,
            "parts": list(self.twin.parts),
            "iam": bool(iam and iam.enabled),
            "invocations": len(inspector.invocations()),
            "errors": len(self.twin.errors),
            "access_denials": len(inspector.access_denials()),
        }

    def _fire(self, request: Request, rule: str) -> dict[str, Any]:
        try:
            firing = self.twin.part(Scheduler).fire(rule)
        except SchedulerError as exc:  # no such scheduled rule, or disabled
            raise BadRequest(str(exc)) from exc
        return {"rule": firing.rule_arn, "time": firing.time.isoformat()}

    def _failure(self, request: Request, function: str) -> dict[str, Any]:
        since = _since(request)
        return {"failure": Inspector(self.twin).lambda_failure(function, since)}

    def _log(self, request: Request, name: str) -> dict[str, Any]:
        run_id = request.args.get("run_id") or None
        return {"log": Inspector(self.twin).instance_log(name, run_id)}

    def _processes(self, request: Request, name: str) -> dict[str, Any]:
        return {"pids": self.twin.part(NotebookHost).processes_alive(name)}

    def _denials(self, request: Request) -> dict[str, Any]:
        since = _since(request)
        denials = [
            {**asdict(denial), "at": denial.at.isoformat()}
            for denial in Inspector(self.twin).access_denials()
            if since is None or denial.at >= since
        ]
        return {"access_denials": denials}


def _since(request: Request) -> datetime | None:
    value = request.args.get("since")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"since={value!r}: not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise BadRequest(f"since={value!r}: give the time zone (UTC: +00:00)")
    return moment


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
