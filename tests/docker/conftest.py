"""Fixtures for the tests that need a Docker engine (marked `docker`), built on pytest-docker.

They run with TWIN=localstack (`make test TWIN=localstack`): they pull LocalStack and build an
image, which needs time and, once, internet access, so the default `make test` does not start
them even where Docker exists. Without an engine (or without the Compose plugin) they are
skipped at collection, with one line saying why, so pytest-docker's fixtures are never entered:
no `docker compose up`, no waiting, nothing to hang. The other tests here (backends, the compose
file, the instance's entrypoint) need no engine and always run.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_docker.plugin import Services

from emulation.backends import (
    DEFAULT_BACKEND,
    LocalStackBackend,
    docker_compose_available,
    docker_engine_available,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
# The project name in docker-compose.yml: the stack's container and network names are fixed, so
# the tests join a stack the user already runs rather than starting a second one.
PROJECT = "asr-monitor"
# What the tests need; the twin (a large image with the speech engines) is not started for them.
SERVICES = ("localstack", "notebook-instance")


@functools.cache
def docker_ready() -> tuple[bool, str]:
    """(True, versions) when asked for and an engine and `docker compose` answer, else why not."""
    twin = (os.environ.get("TWIN") or DEFAULT_BACKEND).strip().lower()
    if twin != "localstack":
        return False, f"TWIN={twin}, not localstack (`make test TWIN=localstack` runs them)"
    engine_ok, engine = docker_engine_available(timeout=10.0)
    if not engine_ok:
        return False, engine
    compose_ok, compose = docker_compose_available(timeout=10.0)
    if not compose_ok:
        return False, compose
    return True, f"{engine}, {compose}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs_docker = [
        item for item in items if item.get_closest_marker("docker") and HERE in item.path.parents
    ]
    if not needs_docker:
        return
    ok, reason = docker_ready()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"{reason}: skipping LocalStack tests")
    for item in needs_docker:
        item.add_marker(skip)


def compose(
    *args: str, timeout: float = 120.0, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `docker compose` on this project; the caller checks the return code."""
    return subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", PROJECT, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return PROJECT


@pytest.fixture(scope="session")
def stack_was_running() -> bool:
    """Whether LocalStack was already up before the tests (then the tests leave it up)."""
    result = compose("ps", "--status", "running", "--quiet", "localstack", timeout=30)
    return result.returncode == 0 and bool(result.stdout.strip())


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # --wait returns once the health checks pass (LocalStack's /_localstack/health included).
    return [f"up --build --wait {' '.join(SERVICES)}"]


@pytest.fixture(scope="session")
def docker_cleanup(stack_was_running: bool) -> list[str]:
    # `down` without -v: LocalStack's cache volume and the instance's home volume stay.
    return [] if stack_was_running else ["down"]


@pytest.fixture(scope="session")
def localstack(docker_services: Services) -> LocalStackBackend:
    """The localstack backend, once its health endpoint lists every service the twin needs."""
    port = docker_services.port_for("localstack", 4566)
    backend = LocalStackBackend(endpoint=f"http://127.0.0.1:{port}")
    docker_services.wait_until_responsive(
        check=lambda: backend.is_available()[0], timeout=180.0, pause=1.0
    )
    return backend


@pytest.fixture(scope="session")
def in_notebook_instance(
    docker_services: Services,
) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Runs a command in the running notebook-instance container (docker compose exec -T)."""

    def run(*command: str, stdin: bytes | None = None, timeout: float = 120.0):
        return compose("exec", "-T", "notebook-instance", *command, stdin=stdin, timeout=timeout)

    return run
