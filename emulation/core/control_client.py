"""The client of a twin's control API (``core.control``), for processes outside the twin.

Standard library only: the command line imports it to tell a twin's endpoint from AWS's
(``twin_health``) and to build a twin's environment (``client_env``) without loading the twin.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from emulation.core.errors import EmulationError

SERVICE = "asr-monitor twin"  # what /_twin/health names
TIMEOUT_SECONDS = 30.0
# moto's default keys: requests signed with them are "you", unrestricted (emulation/iam).
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class ControlError(EmulationError):
    """The twin refused a control request, or did not answer; the message says which."""


def client_env(endpoint: str, region: str) -> dict[str, str]:
    """The environment boto3 and the aws CLI need to talk to a twin (what `make twin` prints)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **DUMMY_CREDENTIALS,
    }


def twin_health(endpoint: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The twin's /_twin/health when ``endpoint`` is a twin that answers, else None."""
    try:
        health = TwinControl(endpoint, timeout).health()
    except ControlError:
        return None
    return health if health.get("service") == SERVICE else None


class TwinControl:
    """Calls to one twin's control API."""

    def __init__(self, endpoint: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def fire(self, rule: str) -> dict[str, Any]:
        """Fire a scheduled rule now: its targets get the Scheduled Event."""
        return self._call("POST", f"events/rules/{_quote(rule)}/fire")

    def lambda_failure(self, function: str, since: datetime | None = None) -> str | None:
        """The function's error once its last retry failed, if one did ``since`` then."""
        return self._call("GET", f"lambda/functions/{_quote(function)}/failure", since=since)[
            "failure"
        ]

    def instance_log(self, name: str, run_id: str | None = None) -> str:
        path = f"sagemaker/notebook-instances/{_quote(name)}/log"
        return self._call("GET", path, run_id=run_id)["log"]

    def instance_processes(self, name: str) -> list[int]:
        """Pids still running for the instance's latest start."""
        return self._call("GET", f"sagemaker/notebook-instances/{_quote(name)}/processes")["pids"]

    def access_denials(self, since: datetime | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "iam/access-denials", since=since)["access_denials"]

    def _call(self, method: str, path: str, **query: Any) -> dict[str, Any]:
        params = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in query.items()
            if value is not None
        }
        url = f"{self.endpoint}/_twin/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ControlError(f"{method} {url}: {_error_text(exc)}") from exc
        except (OSError, ValueError) as exc:
            raise ControlError(f"{method} {url}: {exc}") from exc


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return f"{exc.code}: {json.loads(exc.read())['error']}"
    except (ValueError, KeyError, TypeError):
        return f"{exc.code} {exc.reason}"
