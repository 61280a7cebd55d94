"""Where a command acts: AWS or a twin, and on which stack.

The endpoint comes from the environment as boto3 reads it (AWS_ENDPOINT_URL and the
per-service AWS_ENDPOINT_URL_<SERVICE>, the region, the credentials), so the same command acts on
AWS or on any twin whose ``export`` lines were pasted; ``--twin`` instead uses the background
twin of this checkout (``asr-monitor twin start``). An endpoint that answers the twin's control
API (``/_twin/health``) is a twin, which ``deploy`` treats as ``make e2e`` does.

The stack: ``--stack``, else the background twin's (with ``--twin``), else ``stack_name`` from
asr-monitor.toml, else ``asr-monitor``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from deploy.errors import InvalidParameterError
from deploy.stack import validate_stack_name
from emulation.background.state import DEFAULT_STACK, running_twin
from emulation.core.control_client import DUMMY_CREDENTIALS, twin_health

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.config import Config

    from deploy.cli.config import DeployConfig


@dataclass(frozen=True)
class Target:
    """A client factory for one place (``client(service)``, like a boto3 Session)."""

    session: boto3.Session
    stack: str
    endpoint: str | None = None  # what answers: AWS_ENDPOINT_URL, or the twin's
    endpoint_override: str | None = None  # given to each client (the background twin's)
    twin: dict[str, Any] | None = None  # the twin's /_twin/health, when a twin answers

    def client(self, service: str, /, config: Config | None = None) -> BaseClient:
        return self.session.client(service, endpoint_url=self.endpoint_override, config=config)

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def describe(self) -> str:
        if self.twin is not None:
            return f"the twin at {self.endpoint} (pid {self.twin.get('pid')})"
        if self.endpoint:
            return f"{self.endpoint} ({self.region})"
        return f"AWS ({self.region})"


def resolve_target(*, twin: bool, stack: str | None, config: DeployConfig | None = None) -> Target:
    """The target the options and the environment name (see the module's docstring)."""
    config_stack = config.stack_name if config else None
    if twin:
        state = running_twin()
        if state is None:
            raise InvalidParameterError(
                "--twin: no twin runs for this checkout; start one: asr-monitor twin start"
            )
        session = boto3.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=state.region,
        )
        return Target(
            session,
            validate_stack_name(stack or state.stack),
            endpoint=state.endpoint,
            endpoint_override=state.endpoint,
            twin=twin_health(state.endpoint),
        )
    region = None if _region_in_environment() else (config.region if config else None)
    session = boto3.Session(region_name=region)
    if not session.region_name:
        raise InvalidParameterError(
            "no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION), or region in asr-monitor.toml"
        )
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    return Target(
        session,
        validate_stack_name(stack or config_stack or DEFAULT_STACK),
        endpoint=endpoint,
        twin=twin_health(endpoint) if endpoint else None,
    )


def _region_in_environment() -> bool:
    return bool(os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION"))
