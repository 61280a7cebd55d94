"""The twin backends registry (emulation/backends.py): selection, routing, availability.

No Docker needed: routing is checked by asking boto3 which endpoint it resolves, LocalStack's
health endpoint is played by a small local HTTP server, and the docker CLI by scripts on PATH.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from emulation.core import backends
from emulation.core.backends import (
    LOCALSTACK_SERVICES,
    TWIN_SERVICES,
    EmbeddedBackend,
    EnvClients,
    LocalStackBackend,
    docker_compose_available,
    docker_engine_available,
    get_backend,
    published_twin_endpoint,
    register_backend,
)
from emulation.core.errors import TwinConfigError
from emulation.core.server import free_port
from emulation.core.twin import Twin

TWIN_URL = "http://127.0.0.1:5055"
DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)


# --- selection ------------------------------------------------------------------------------


@pytest.mark.parametrize("environ", [{}, {"TWIN": ""}, {"TWIN": "embedded"}])
def test_embedded_is_the_default(environ: dict[str, str]) -> None:
    assert get_backend(environ=environ).name == "embedded"


@pytest.mark.parametrize("value", ["localstack", " LocalStack "])
def test_twin_variable_selects_localstack(value: str) -> None:
    assert isinstance(get_backend(environ={"TWIN": value}), LocalStackBackend)


def test_explicit_name_wins_over_twin_variable() -> None:
    assert get_backend("embedded", environ={"TWIN": "localstack"}).name == "embedded"


def test_unknown_backend_is_a_configuration_error_listing_the_names() -> None:
    with pytest.raises(TwinConfigError) as raised:
        get_backend(environ={"TWIN": "kubernetes"})
    message = str(raised.value)
    assert "'kubernetes'" in message
    assert "TWIN" in message
    assert "embedded, localstack" in message


def test_registered_backend_is_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))

    class Fixed(EmbeddedBackend):
        name = "fixed"

    register_backend("Fixed", Fixed)
    assert backends.backend_names() == ["embedded", "fixed", "localstack"]
    assert isinstance(get_backend(environ={"TWIN": "fixed"}), Fixed)


# --- routing --------------------------------------------------------------------------------


@pytest.fixture
def clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[dict], None]:
    """Empties the AWS settings of this process, then applies a backend's env to it."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))

    def apply(env: dict[str, str]) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    return apply


def resolved_endpoints(*services: str) -> dict[str, str]:
    """The endpoint boto3 resolves for each service from this process's environment."""
    session = boto3.session.Session()
    return {service: session.client(service).meta.endpoint_url for service in services}


def test_embedded_env_is_the_twins_own_env() -> None:
    twin = Twin()
    assert EmbeddedBackend().client_env(twin.endpoint_url) == twin.env()


def test_embedded_env_sends_every_service_to_the_twin(clean_aws_env) -> None:
    clean_aws_env(EmbeddedBackend().client_env(TWIN_URL))
    resolved = resolved_endpoints(*LOCALSTACK_SERVICES, *TWIN_SERVICES)
    assert resolved == dict.fromkeys(resolved, TWIN_URL)


def test_localstack_env_routes_each_service_where_boto3_looks(clean_aws_env) -> None:
    backend = LocalStackBackend(endpoint="http://localstack:4566")
    clean_aws_env(backend.client_env(TWIN_URL))

    # Anything else ("cloudwatch") falls back to LocalStack through AWS_ENDPOINT_URL.
    assert resolved_endpoints(*LOCALSTACK_SERVICES, *TWIN_SERVICES, "cloudwatch") == {
        **dict.fromkeys(LOCALSTACK_SERVICES, "http://localstack:4566"),
        **dict.fromkeys(TWIN_SERVICES, TWIN_URL),
        "cloudwatch": "http://localstack:4566",
    }

    session = boto3.session.Session()
    assert session.region_name == "us-east-1"
    # A 12-digit key id is LocalStack's account id: the same as moto's.
    assert session.get_credentials().access_key == "123456789012"


def test_env_clients_route_each_service_as_boto3_does_from_the_environment(
    clean_aws_env,
) -> None:
    env = LocalStackBackend(endpoint="http://localstack:4566").client_env(TWIN_URL)
    services = (*LOCALSTACK_SERVICES, *TWIN_SERVICES, "cloudwatch")
    clients = EnvClients(env)
    explicit = {service: clients.client(service).meta.endpoint_url for service in services}
    clean_aws_env(env)
    assert explicit == resolved_endpoints(*services)
    s3 = clients.client("s3")
    assert s3.meta.region_name == "us-east-1"
    assert s3._request_signer._credentials.access_key == "123456789012"


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [({}, "http://127.0.0.1:5000"), ({"TWIN_PORT": "5055"}, "http://127.0.0.1:5055")],
)
def test_published_twin_endpoint_follows_twin_port(environ: dict, endpoint: str) -> None:
    assert published_twin_endpoint(environ) == endpoint


def test_localstack_env_wins_over_stray_per_service_settings(clean_aws_env) -> None:
    clean_aws_env({"AWS_ENDPOINT_URL_S3": "http://elsewhere:9000"})
    clean_aws_env(LocalStackBackend().client_env(TWIN_URL))
    assert resolved_endpoints("s3") == {"s3": "http://127.0.0.1:4566"}


def test_localstack_endpoint_comes_from_localstack_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", "http://localstack:4566/")
    backend = get_backend("localstack")
    assert backend.client_env(TWIN_URL)["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    monkeypatch.delenv("LOCALSTACK_ENDPOINT")
    assert get_backend("localstack").client_env(TWIN_URL)["AWS_ENDPOINT_URL"] == (
        "http://127.0.0.1:4566"
    )


# --- availability: LocalStack's health endpoint -----------------------------------------------


def all_serving() -> dict[str, str]:
    return {
        service: ("running" if i % 2 else "available")
        for i, service in enumerate(LOCALSTACK_SERVICES)
    }


def test_localstack_available_when_health_lists_every_service(fake_localstack) -> None:
    fake_localstack.serve(
        {**all_serving(), "kinesis": "disabled"}, version="4.14.0", edition="community"
    )
    ok, reason = LocalStackBackend(endpoint=fake_localstack.endpoint).is_available()
    assert ok
    assert reason == f"LocalStack 4.14.0 (community) at {fake_localstack.endpoint}"


def test_localstack_unavailable_names_the_services_it_lacks(fake_localstack) -> None:
    services = all_serving()
    services["lambda"] = "disabled"
    del services["sqs"]
    fake_localstack.serve(services, version="4.14.0")
    ok, reason = LocalStackBackend(endpoint=fake_localstack.endpoint).is_available()
    assert not ok
    assert "does not serve lambda (disabled), sqs (absent)" in reason
    assert "SERVICES in docker-compose.yml" in reason


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [(503, b'{"services": {}}', "HTTP 503"), (200, b"<html>proxy</html>", "Expecting value")],
)
def test_localstack_unavailable_on_a_bad_answer(
    fake_localstack, fake_docker, status: int, body: bytes, said: str
) -> None:
    fake_docker(info_exit=0, info_out="28.2.2")
    fake_localstack.status, fake_localstack.body = status, body
    ok, reason = LocalStackBackend(endpoint=fake_localstack.endpoint).is_available()
    assert not ok
    assert said in reason
    assert reason.endswith("start it with `docker compose up -d --wait`")


def test_localstack_unavailable_without_engine_says_so(fake_docker) -> None:
    fake_docker(info_exit=1, info_err=DAEMON_DOWN)
    backend = LocalStackBackend(endpoint=f"http://127.0.0.1:{free_port()}")
    ok, reason = backend.is_available()
    assert not ok
    assert reason.startswith(f"LocalStack not answering at {backend.health_url} (")
    assert (
        f"no Docker engine to start it: Docker engine not reachable (docker info: {DAEMON_DOWN})"
        in reason
    )


# --- availability: the Docker engine and Compose ----------------------------------------------


def test_engine_reachable_reports_its_version(fake_docker) -> None:
    fake_docker(info_out="28.2.2\n")
    assert docker_engine_available() == (True, "Docker engine 28.2.2")


def test_engine_down_reports_what_docker_info_said(fake_docker) -> None:
    fake_docker(info_exit=1, info_err=DAEMON_DOWN + "\n")
    assert docker_engine_available() == (
        False,
        f"Docker engine not reachable (docker info: {DAEMON_DOWN})",
    )


def test_engine_without_server_version_is_not_reachable(fake_docker) -> None:
    fake_docker(info_exit=0, info_out="")
    ok, reason = docker_engine_available()
    assert not ok
    assert reason == "Docker engine not reachable (docker info: no server version)"


def test_engine_check_gives_up_after_its_timeout(fake_docker) -> None:
    fake_docker(hang=True)
    started = time.monotonic()
    ok, reason = docker_engine_available(timeout=0.5)
    assert not ok
    assert reason == "Docker engine not reachable (docker info: no answer in 0.5 s)"
    assert time.monotonic() - started < 10


def test_no_docker_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker_engine_available() == (
        False,
        "Docker engine not reachable (Docker CLI not found on PATH)",
    )
    assert docker_compose_available() == (
        False,
        "Docker Compose plugin not available (Docker CLI not found on PATH)",
    )


def test_compose_plugin_present(fake_docker) -> None:
    fake_docker(compose_out="Docker Compose version v2.39.1\n")
    assert docker_compose_available() == (True, "Docker Compose version v2.39.1")


def test_compose_plugin_missing(fake_docker) -> None:
    fake_docker(compose_exit=1, compose_err="docker: unknown command: docker compose\n")
    assert docker_compose_available() == (
        False,
        "Docker Compose plugin not available (docker compose version: "
        "docker: unknown command: docker compose)",
    )
