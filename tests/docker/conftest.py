"""Fixtures for the tests that need a Docker engine (marked `docker`), built on pytest-docker.

They run with TWIN=localstack (`make test TWIN=localstack`): they pull LocalStack and build an
image, which needs time and, once, internet access, so the default `make test` does not start
them even where Docker exists. Without an engine (or without the Compose plugin) they are
skipped at collection, with one line saying why, so pytest-docker's fixtures are never entered:
no `docker compose up`, no waiting, nothing to hang. The other tests here (backends, the compose
file, the instance's entrypoint, the container hook runner, the localstack routing of the twin's
own S3 and Logs calls, the e2e driver's localstack site) need no engine and always run, with
stand-ins defined below: a second AWS (moto's server in its own process), LocalStack's health
endpoint, and scripted `docker` CLIs.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pytest_docker.plugin import Services

from emulation.core.backends import (
    DEFAULT_BACKEND,
    EmbeddedBackend,
    LocalStackBackend,
    docker_compose_available,
    docker_engine_available,
)
from emulation.core.server import free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENTRYPOINT = REPO / "docker" / "notebook-instance" / "notebook-instance.sh"
DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)
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


# --- a second AWS, standing in for LocalStack where no Docker engine is needed ------------------


@pytest.fixture(scope="session")
def standalone_moto() -> Iterator[str]:
    """moto's server in a process of its own: an AWS whose state is not the twin's (moto's
    state is per process), where the localstack routing can send S3, Logs or SageMaker."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/reset-auth", timeout=1)
            except urllib.error.HTTPError:
                break  # any HTTP answer: it is up
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {url}") from None
                time.sleep(0.1)
            else:
                break
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def other_aws(standalone_moto: str) -> dict[str, str]:
    """The standalone AWS, emptied, as a client environment (what a backend's client_env is)."""
    request = urllib.request.Request(f"{standalone_moto}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return EmbeddedBackend().client_env(standalone_moto)


# --- stand-ins for LocalStack's health endpoint and the docker CLI ----------------------------


class FakeLocalStack:
    """Answers GET /_localstack/health with whatever the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/_localstack/health":
                    self.send_error(404)
                    return
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, services: dict[str, str], **extra: str) -> None:
        self.body = json.dumps({"services": services, **extra}).encode()


@pytest.fixture
def fake_localstack() -> Iterator[FakeLocalStack]:
    fake = FakeLocalStack()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def fake_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Puts a scripted `docker` first (and alone) on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))

    def install(
        info_exit: int = 0,
        info_out: str = "",
        info_err: str = "",
        compose_exit: int = 0,
        compose_out: str = "",
        compose_err: str = "",
        hang: bool = False,
    ) -> None:
        script = bin_dir / "docker"
        script.write_text(
            "#!/bin/sh\n"
            + ("exec /bin/sleep 30\n" if hang else "")
            + 'case "$1" in\n'
            + f"  info) printf '%s' '{info_out}'; printf '%s' '{info_err}' >&2;"
            + f" exit {info_exit};;\n"
            + f"  compose) printf '%s' '{compose_out}'; printf '%s' '{compose_err}' >&2;"
            + f" exit {compose_exit};;\n"
            + "esac\nexit 64\n"
        )
        script.chmod(0o755)

    return install


# --- the notebook-instance container, played on this machine ------------------------------------

FAKE_CONTAINER_DOCKER = f'''#!{sys.executable}
"""A docker CLI whose one container runs here (tests/docker/conftest.py, FakeContainer)."""
import json, os, subprocess, sys
from emulation.sagemaker.processes import ProcessGroup

state = os.environ["FAKE_DOCKER_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if os.path.exists(os.path.join(state, "engine-down")):
    print({DAEMON_DOWN!r}, file=sys.stderr)
    sys.exit(1)
marker = "fake-container:" + state  # carried by everything "in the container"
container_env = os.path.join(state, "container-env.json")
base = json.load(open(container_env)) if os.path.exists(container_env) else dict(os.environ)
command, rest = args[0], args[1:]
if command == "exec":
    env = {{}}
    while rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag == "-e":
            key, _, value = rest.pop(0).partition("=")
            env[key] = value
    container, program = rest[0], rest[1:]
    if program[0] == "notebook-instance":
        program = ["bash", {str(ENTRYPOINT)!r}, *program[1:]]
    root = os.path.join(state, container)
    env = {{
        "PATH": os.environ["PATH"],
        **base,
        "NOTEBOOK_METADATA_FILE": root + "/opt/ml/metadata/resource-metadata.json",
        "LIFECYCLE_HOOK_DIR": root + "/var/log/lifecycle-config",
        "SAGEMAKER_HOME": root + "/home/ec2-user/SageMaker",
        "TWIN_NOTEBOOK_RUN": marker,
        **env,
    }}
    sys.exit(subprocess.call(program, env=env))
if command == "restart":
    ProcessGroup(marker).end(grace_seconds=float(rest[rest.index("-t") + 1]))
    sys.exit(0)
sys.exit(64)
'''


class FakeContainer:
    """A `docker` first on PATH that records every call and plays the notebook-instance
    container here: `docker exec` runs the container's real command
    (docker/notebook-instance/notebook-instance.sh) with its paths under ``state/<container>``;
    `docker restart` ends everything exec started, as a restart ends a container's processes.
    The container's environment is this process's, or the one given to ``set_env``."""

    def __init__(self, state: Path) -> None:
        self.state = state

    def calls(self) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def path(self, container: str, *parts: str) -> Path:
        """A path inside the container (its "/" is ``state/<container>``)."""
        return self.state.joinpath(container, *parts)

    def set_env(self, env: dict[str, str]) -> None:
        (self.state / "container-env.json").write_text(json.dumps(env))

    def engine_down(self) -> None:
        (self.state / "engine-down").touch()


@pytest.fixture
def fake_container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeContainer:
    bin_dir, state = tmp_path / "container-bin", tmp_path / "container-state"
    bin_dir.mkdir()
    state.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_CONTAINER_DOCKER)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(state))
    return FakeContainer(state)
