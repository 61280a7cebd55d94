"""Composition of the twin: which parts it runs, each built from one ``TwinConfig``.

``build_twin(config)`` returns an unstarted Twin, with the control API (``core.control``) on
its server. ``PARTS`` maps a part's name, the id of the
AWS service it emulates (its key in ``twin.parts``), to a factory. Parts that need another part
get it here (the scheduler invokes Lambda targets through the Lambda runtime).

``config_for_backend(config, name)`` adapts a config to a backend (TWIN): the embedded twin
serves everything; beside LocalStack it serves only SageMaker and Transcribe (``twin`` in
docker-compose.yml), hooks run in the notebook-instance container, and the parts' own S3 and
CloudWatch Logs calls go to LocalStack.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from emulation.awslambda.async_invoke import AWS_RETRY_DELAYS
from emulation.awslambda.runtime import LambdaRuntime
from emulation.cloudformation.stacks import CloudFormationPart
from emulation.core.backends import LocalStackBackend, get_backend
from emulation.core.control import PREFIX as CONTROL_PREFIX
from emulation.core.control import ControlApi
from emulation.core.errors import TwinConfigError
from emulation.core.server import free_port
from emulation.core.twin import DEFAULT_REGION, Twin, TwinPart
from emulation.dynamodb.atomic_writes import AtomicWrites
from emulation.events.scheduler import Scheduler
from emulation.iam.authorizer import IamEnforcement
from emulation.s3.checksums import S3Checksums
from emulation.sagemaker.config import DEFAULT_NOTEBOOK_CONTAINER, NotebookHostConfig
from emulation.sagemaker.notebook_host import NotebookHost
from emulation.transcribe.service import TranscribeConfig, TranscribeService

# TWIN_IAM=off turns IAM enforcement off (for debugging; everything the twin prints says so).
IAM_ENV = "TWIN_IAM"
IAM_OFF_LABEL = "(IAM enforcement OFF) "


def iam_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """TWIN_IAM: on (default) or off."""
    value = (os.environ if environ is None else environ).get(IAM_ENV, "on").strip().lower()
    if value not in ("on", "off", "1", "0", "true", "false"):
        raise TwinConfigError(f"{IAM_ENV}={value!r}: use on or off")
    return value in ("on", "1", "true")


def _temporary_sandbox() -> NotebookHostConfig:
    root = Path(tempfile.mkdtemp(prefix="twin-notebooks-"))
    return NotebookHostConfig(sandbox_root=root, temporary=True)


@dataclass(frozen=True)
class TwinConfig:
    region: str = DEFAULT_REGION
    port: int | None = None  # None: a free port
    host: str = "127.0.0.1"  # "0.0.0.0" to serve other machines or containers
    parts: tuple[str, ...] | None = None  # names from PARTS; None: every part
    lambda_retry_delays: tuple[float, ...] = AWS_RETRY_DELAYS  # AWS: about 1 and 2 minutes
    lambda_workers: int = 4  # concurrent asynchronous invocations
    scheduler_interval: float = 1.0  # seconds between ticks when the scheduler loop runs
    sagemaker: NotebookHostConfig | None = None  # None: defaults in a temporary folder
    transcribe: TranscribeConfig = field(default_factory=TranscribeConfig)
    iam: bool = field(default_factory=iam_from_env)  # enforce IAM on role-signed requests


def _iam(twin: Twin, config: TwinConfig) -> TwinPart:
    return IamEnforcement(twin, enabled=config.iam)


def _lambda(twin: Twin, config: TwinConfig) -> TwinPart:
    return LambdaRuntime(
        twin, retry_delays=config.lambda_retry_delays, max_workers=config.lambda_workers
    )


def _events(twin: Twin, config: TwinConfig) -> TwinPart:
    runtime = twin.find_part(LambdaRuntime)
    return Scheduler(twin, runtime=runtime, interval=config.scheduler_interval)


def _sagemaker(twin: Twin, config: TwinConfig) -> TwinPart:
    return NotebookHost(twin, config.sagemaker or _temporary_sandbox())


def _transcribe(twin: Twin, config: TwinConfig) -> TwinPart:
    return TranscribeService(twin, config.transcribe)


def _cloudformation(twin: Twin, config: TwinConfig) -> TwinPart:
    return CloudFormationPart()


def _s3(twin: Twin, config: TwinConfig) -> TwinPart:
    return S3Checksums()


def _dynamodb(twin: Twin, config: TwinConfig) -> TwinPart:
    return AtomicWrites()


# In build order: a part may use the parts built before it.
PARTS: dict[str, Callable[[Twin, TwinConfig], TwinPart]] = {
    "iam": _iam,
    "cloudformation": _cloudformation,
    "lambda": _lambda,
    "events": _events,
    "sagemaker": _sagemaker,
    "transcribe": _transcribe,
    "s3": _s3,
    "dynamodb": _dynamodb,
}


# What the twin serves beside LocalStack: what LocalStack Community lacks (core/backends.py).
# IAM is not among them: the roles live in LocalStack, whose Community edition enforces none.
LOCALSTACK_PARTS = ("sagemaker", "transcribe")
# A stop restarts the notebook-instance container with `docker restart -t 10`: Docker's own
# default grace, time for the run's TERM trap.
CONTAINER_STOP_GRACE_SECONDS = 10.0


def config_for_backend(
    config: TwinConfig, backend: str | None = None, environ: Mapping[str, str] | None = None
) -> TwinConfig:
    """``config`` for the backend named ``backend`` (else TWIN, else embedded): unchanged for the
    embedded one; for LocalStack, see ``localstack_config``."""
    env = os.environ if environ is None else environ
    if get_backend(backend, env).name == LocalStackBackend.name:
        return localstack_config(config, LocalStackBackend(env.get("LOCALSTACK_ENDPOINT")), env)
    return config


def localstack_config(
    config: TwinConfig, backend: LocalStackBackend, environ: Mapping[str, str]
) -> TwinConfig:
    """The twin beside LocalStack: SageMaker and Transcribe only.

    The notebook host runs hooks in the container named by NOTEBOOK_CONTAINER (docker exec) and
    publishes their output to LocalStack's CloudWatch Logs; the Transcribe engine reads media
    from and writes transcripts to LocalStack's S3 (LOCALSTACK_ENDPOINT).
    """
    port = config.port or free_port(config.host)
    aws_env = backend.client_env(f"http://127.0.0.1:{port}")
    sagemaker = replace(
        config.sagemaker or _temporary_sandbox(),
        runner="container",
        container=environ.get("NOTEBOOK_CONTAINER") or DEFAULT_NOTEBOOK_CONTAINER,
        aws_env=aws_env,
        stop_grace_seconds=CONTAINER_STOP_GRACE_SECONDS,
    )
    transcribe = replace(config.transcribe, aws_env=aws_env)
    return replace(
        config, port=port, parts=LOCALSTACK_PARTS, sagemaker=sagemaker, transcribe=transcribe
    )


def build_twin(config: TwinConfig | None = None) -> Twin:
    config = config or TwinConfig()
    unknown = sorted(set(config.parts or ()) - set(PARTS))
    if unknown:
        raise TwinConfigError(
            f"TwinConfig.parts: unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}"
        )
    twin = Twin(config.region, config.port, config.host)
    for name in PARTS:
        if config.parts is None or name in config.parts:
            twin.add_part(name, PARTS[name](twin, config))
    twin.server.mount(CONTROL_PREFIX, ControlApi(twin))
    return twin
