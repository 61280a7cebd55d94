"""Twin backends by name: which endpoint serves which AWS service, selected by TWIN.

Like papermill's engines, a backend is looked up by name in a registry:

    embedded    (default) every service from the in-process moto twin
    localstack  S3, DynamoDB, SNS, EventBridge, Lambda, SQS, Logs, IAM, STS and CloudFormation
                from LocalStack (LOCALSTACK_ENDPOINT, default http://127.0.0.1:4566, started with
                `docker compose up -d --wait`); SageMaker and Transcribe from the twin, because
                LocalStack Community has no SageMaker and its Transcribe downloads models.

Routing is plain boto3 configuration: AWS_ENDPOINT_URL for everything, and boto3's
per-service variables (AWS_ENDPOINT_URL_<SERVICE>) for what goes elsewhere, so the handlers,
the notebook and the aws CLI need no code of their own to use either backend.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from typing import TYPE_CHECKING, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from emulation.core.errors import TwinConfigError
from emulation.core.server import DUMMY_ACCOUNT_ID, DUMMY_CREDENTIALS
from emulation.core.twin import DEFAULT_REGION

if TYPE_CHECKING:
    from botocore.client import BaseClient

DEFAULT_BACKEND = "embedded"
DEFAULT_LOCALSTACK_ENDPOINT = "http://127.0.0.1:4566"
# Where docker-compose.yml publishes the twin on this machine (TWIN_PORT overrides the port).
DEFAULT_TWIN_PORT = 5000

# Keep in step with SERVICES in docker-compose.yml (a test checks it).
LOCALSTACK_SERVICES = (
    "s3",
    "dynamodb",
    "sns",
    "events",
    "lambda",
    "sqs",
    "logs",
    "iam",
    "sts",
    "cloudformation",
)
TWIN_SERVICES = ("sagemaker", "transcribe")

# boto3's documented variable per service: AWS_ENDPOINT_URL_ + the service id, upper case, with
# spaces as underscores (the service id, not the client name: "events" is EventBridge).
ENDPOINT_ENV = {
    "s3": "AWS_ENDPOINT_URL_S3",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "sns": "AWS_ENDPOINT_URL_SNS",
    "events": "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "lambda": "AWS_ENDPOINT_URL_LAMBDA",
    "sqs": "AWS_ENDPOINT_URL_SQS",
    "logs": "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
    "iam": "AWS_ENDPOINT_URL_IAM",
    "sts": "AWS_ENDPOINT_URL_STS",
    "cloudformation": "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "sagemaker": "AWS_ENDPOINT_URL_SAGEMAKER",
    "transcribe": "AWS_ENDPOINT_URL_TRANSCRIBE",
}

# What LocalStack's health endpoint reports for a service it can serve.
_SERVING = frozenset({"available", "running"})


class Backend(Protocol):
    """Where each AWS service of the twin lives, and whether that is reachable now."""

    name: str

    def client_env(self, twin_endpoint: str) -> dict[str, str]:
        """The environment for boto3 (and the aws CLI) given the twin's own endpoint."""
        ...

    def is_available(self) -> tuple[bool, str]:
        """(True, what answers) or (False, why not and what to do), without raising."""
        ...


class EmbeddedBackend:
    """Everything from the in-process moto twin: nothing to start, nothing outside Python."""

    name = "embedded"

    def client_env(self, twin_endpoint: str) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": twin_endpoint, **_region_env(), **DUMMY_CREDENTIALS}

    def is_available(self) -> tuple[bool, str]:
        if find_spec("moto") is None:
            return False, "moto is not installed (run `make install`)"
        return True, "moto, in-process"


class LocalStackBackend:
    """LocalStack for the services it emulates well; the twin for SageMaker and Transcribe."""

    name = "localstack"

    def __init__(self, endpoint: str | None = None, health_timeout: float = 2.0) -> None:
        self.endpoint = (
            endpoint or os.environ.get("LOCALSTACK_ENDPOINT") or DEFAULT_LOCALSTACK_ENDPOINT
        ).rstrip("/")
        self.health_url = f"{self.endpoint}/_localstack/health"
        self.health_timeout = health_timeout

    def endpoints(self, twin_endpoint: str) -> dict[str, str]:
        """Service (boto3 client name) -> the endpoint that serves it."""
        return {
            **dict.fromkeys(LOCALSTACK_SERVICES, self.endpoint),
            **dict.fromkeys(TWIN_SERVICES, twin_endpoint),
        }

    def client_env(self, twin_endpoint: str) -> dict[str, str]:
        routes = {ENDPOINT_ENV[svc]: url for svc, url in self.endpoints(twin_endpoint).items()}
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            **routes,
            **_region_env(),
            # LocalStack takes a 12-digit access key id as the account id: the same account as
            # moto's, so ARNs agree across both halves of the twin.
            "AWS_ACCESS_KEY_ID": DUMMY_ACCOUNT_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }

    def is_available(self) -> tuple[bool, str]:
        try:
            health = self.health()
        except (OSError, ValueError) as error:
            reason = f"LocalStack not answering at {self.health_url} ({_describe(error)})"
            engine_ok, engine_reason = docker_engine_available()
            if not engine_ok:
                return False, f"{reason}; no Docker engine to start it: {engine_reason}"
            return False, f"{reason}; start it with `docker compose up -d --wait`"
        return self.check_health(health)

    def check_health(self, health: Mapping[str, object]) -> tuple[bool, str]:
        """Does this health answer list every service the backend routes to LocalStack?"""
        services = health.get("services", {})
        if not isinstance(services, Mapping):
            services = {}
        missing = {s: services.get(s, "absent") for s in LOCALSTACK_SERVICES}
        missing = {s: status for s, status in missing.items() if status not in _SERVING}
        if missing:
            listed = ", ".join(f"{s} ({status})" for s, status in sorted(missing.items()))
            return False, (
                f"LocalStack at {self.endpoint} does not serve {listed}; "
                "check SERVICES in docker-compose.yml"
            )
        edition = health.get("edition", "unknown edition")
        return True, f"LocalStack {health.get('version', '?')} ({edition}) at {self.endpoint}"

    def health(self) -> dict[str, object]:
        """LocalStack's health answer; raises OSError or ValueError when there is none."""
        with urllib.request.urlopen(self.health_url, timeout=self.health_timeout) as response:
            health = json.load(response)
        if not isinstance(health, dict):
            raise ValueError(f"unexpected health answer: {health!r:.80}")
        return health


class BackendUnavailable(TwinConfigError):
    """A backend's services are not reachable; the message is one line saying why and what to do."""


class EnvClients:
    """boto3 clients routed by a backend's environment (``client_env``), not by os.environ.

    The same routing boto3 does from AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, made
    explicit, so one process can talk to LocalStack and the twin at once (``make e2e``, the
    twin's own container). A client factory with ``client(service)``, like a boto3 Session or a
    Twin; ``pipeline.aws.Clients`` caches over any of them.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)

    def endpoint(self, service: str) -> str:
        specific = ENDPOINT_ENV.get(service)
        return self.env.get(specific or "", "") or self.env["AWS_ENDPOINT_URL"]

    def client(self, service: str, /, **config: object) -> BaseClient:
        return boto3.client(
            service,
            endpoint_url=self.endpoint(service),
            region_name=self.env.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            config=Config(**config) if config else None,
        )


def published_twin_endpoint(environ: Mapping[str, str] | None = None) -> str:
    """The twin container's endpoint on this machine, as docker-compose.yml publishes it."""
    env = os.environ if environ is None else environ
    return f"http://127.0.0.1:{env.get('TWIN_PORT') or DEFAULT_TWIN_PORT}"


def require_localstack(
    backend: LocalStackBackend, twin_endpoint: str, *, timeout: float = 5.0
) -> str:
    """What answers, or BackendUnavailable with one line: no engine, no LocalStack, no twin.

    LocalStack is asked first (an HTTP call), the Docker engine only when it does not answer,
    so the usual failure (no engine at all) names the engine, and nothing waits long.
    """
    try:
        health = backend.health()
    except (OSError, ValueError) as error:
        engine_ok, engine_reason = docker_engine_available(timeout=timeout)
        if not engine_ok:
            raise BackendUnavailable(
                f"TWIN=localstack needs a Docker engine: {engine_reason}"
            ) from error
        raise BackendUnavailable(
            f"TWIN=localstack: LocalStack not answering at {backend.health_url} "
            f"({_describe(error)}); start it with `docker compose up -d --wait`"
        ) from error
    ok, reason = backend.check_health(health)
    if not ok:
        raise BackendUnavailable(f"TWIN=localstack: {reason}")
    sagemaker = EnvClients(backend.client_env(twin_endpoint)).client(
        "sagemaker", connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}
    )
    try:
        sagemaker.list_notebook_instances(MaxResults=1)
    except (BotoCoreError, ClientError) as error:
        raise BackendUnavailable(
            f"TWIN=localstack: the twin (SageMaker, Transcribe) is not answering at "
            f"{twin_endpoint} ({error}); start it with `docker compose up -d --wait`"
        ) from error
    return f"{reason}; the twin at {twin_endpoint}"


_REGISTRY: dict[str, Callable[[], Backend]] = {
    EmbeddedBackend.name: EmbeddedBackend,
    LocalStackBackend.name: LocalStackBackend,
}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Add (or replace) a backend under a name, for TWIN=<name>."""
    _REGISTRY[name.strip().lower()] = factory


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def get_backend(name: str | None = None, environ: Mapping[str, str] | None = None) -> Backend:
    """The backend called `name`, else the one TWIN names, else the embedded one."""
    env = os.environ if environ is None else environ
    chosen = (name if name is not None else env.get("TWIN") or DEFAULT_BACKEND).strip().lower()
    try:
        factory = _REGISTRY[chosen]
    except KeyError:
        raise TwinConfigError(
            f"unknown twin backend {chosen!r} (TWIN): choose one of {', '.join(backend_names())}"
        ) from None
    return factory()


def docker_engine_available(timeout: float = 10.0) -> tuple[bool, str]:
    """Is a Docker engine answering `docker info`? Never raises, never waits past `timeout`."""
    result = _run_docker(["info", "--format", "{{.ServerVersion}}"], timeout)
    if isinstance(result, str):
        return False, f"Docker engine not reachable ({result})"
    returncode, out, err = result
    version = out.strip()
    if returncode != 0 or not version:
        said = _first_line(err) or _first_line(out) or "no server version"
        return False, f"Docker engine not reachable (docker info: {said})"
    return True, f"Docker engine {version}"


def docker_compose_available(timeout: float = 10.0) -> tuple[bool, str]:
    """Is the Compose v2 plugin (`docker compose`) installed? It needs no engine to answer."""
    result = _run_docker(["compose", "version"], timeout)
    if isinstance(result, str):
        return False, f"Docker Compose plugin not available ({result})"
    returncode, out, err = result
    if returncode != 0:
        said = _first_line(err) or _first_line(out) or f"exit status {returncode}"
        return False, f"Docker Compose plugin not available (docker compose version: {said})"
    return True, _first_line(out)


def _run_docker(args: list[str], timeout: float) -> tuple[int, str, str] | str:
    """(returncode, stdout, stderr) of `docker <args>`, or why it could not run.

    Runs in its own process group, killed whole on timeout: the CLI starts plugins (compose) as
    children, and a surviving child would hold the pipes open and block us past the timeout.
    """
    docker = shutil.which("docker")
    if docker is None:
        return "Docker CLI not found on PATH"
    process = subprocess.Popen(
        [docker, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return f"docker {args[0]}: no answer in {timeout:g} s"
    return process.returncode, out, err


def _region_env() -> dict[str, str]:
    return {"AWS_DEFAULT_REGION": DEFAULT_REGION, "AWS_REGION": DEFAULT_REGION}


def _describe(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
