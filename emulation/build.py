"""Composition of the twin: which parts it runs, each built from one ``TwinConfig``.

``build_twin(config)`` returns an unstarted Twin. ``PARTS`` maps a part's name (its key in
``twin.parts``) to a factory; a factory whose module does not exist yet is skipped, so the twin
works while parts are being added. A missing import *inside* a part is an error, not a skip.

``config_for_backend(config, name)`` adapts a config to a backend (TWIN): the embedded twin
serves everything; beside LocalStack it serves only SageMaker and Transcribe (``twin`` in
docker-compose.yml), hooks run in the notebook-instance container, and the parts' own S3 and
CloudWatch Logs calls go to LocalStack.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emulation.backends import LocalStackBackend, get_backend
from emulation.lambda_runtime import AWS_RETRY_DELAYS, LambdaRuntime
from emulation.scheduler import Scheduler
from emulation.server import free_port
from emulation.twin import DEFAULT_REGION, Twin, TwinPart
from pipeline.errors import PipelineError

logger = logging.getLogger("emulation")


@dataclass(frozen=True)
class TwinConfig:
    region: str = DEFAULT_REGION
    port: int | None = None  # None: a free port
    host: str = "127.0.0.1"  # "0.0.0.0" to serve other machines or containers
    parts: tuple[str, ...] | None = None  # names from PARTS; None: every available part
    lambda_retry_delays: tuple[float, ...] = AWS_RETRY_DELAYS  # AWS: about 1 and 2 minutes
    lambda_workers: int = 4  # concurrent asynchronous invocations
    scheduler_interval: float = 1.0  # seconds between ticks when the scheduler loop runs
    notebooks: Any = None  # a NotebookHostConfig; None: defaults in a temporary folder
    transcribe: Any = None  # the Transcribe engine's config; None: its defaults


class PartUnavailable(PipelineError):
    """A part's module (or its class) does not exist yet: the twin runs without it."""


@contextmanager
def _part_module(module: str) -> Iterator[None]:
    try:
        yield
    except ImportError as exc:
        if exc.name != module:
            raise  # the part exists, but one of its own imports is missing: say so
        raise PartUnavailable(f"{module}: {exc}") from exc


def _lambda(twin: Twin, config: TwinConfig) -> TwinPart:
    return LambdaRuntime(
        twin, retry_delays=config.lambda_retry_delays, max_workers=config.lambda_workers
    )


def _scheduler(twin: Twin, config: TwinConfig) -> TwinPart:
    return Scheduler(twin, interval=config.scheduler_interval)


def _notebooks(twin: Twin, config: TwinConfig) -> TwinPart:
    with _part_module("emulation.notebook_host"):
        from emulation.notebook_host import NotebookHost, NotebookHostConfig
    settings = config.notebooks or NotebookHostConfig(
        sandbox_root=Path(tempfile.mkdtemp(prefix="twin-notebooks-"))
    )
    return NotebookHost(twin, settings)


def _transcribe(twin: Twin, config: TwinConfig) -> TwinPart:
    with _part_module("emulation.transcribe_engine"):
        from emulation.transcribe_engine import TranscribeService
    return TranscribeService(twin, config.transcribe)


def _cloudformation(twin: Twin, config: TwinConfig) -> TwinPart:
    from emulation.cfn_repairs import CloudFormationPart

    return CloudFormationPart()


PARTS: dict[str, Callable[[Twin, TwinConfig], TwinPart]] = {
    "cloudformation": _cloudformation,
    "lambda": _lambda,
    "scheduler": _scheduler,
    "notebooks": _notebooks,
    "transcribe": _transcribe,
}


# What the twin serves beside LocalStack: what LocalStack Community lacks (emulation/backends.py).
LOCALSTACK_PARTS = ("notebooks", "transcribe")
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
    from emulation.notebook_host import NotebookHostConfig
    from emulation.notebook_host.config import DEFAULT_NOTEBOOK_CONTAINER
    from emulation.transcribe_engine import TranscribeConfig

    port = config.port or free_port(config.host)
    aws_env = backend.client_env(f"http://127.0.0.1:{port}")
    notebooks = config.notebooks or NotebookHostConfig(
        sandbox_root=Path(tempfile.mkdtemp(prefix="twin-notebooks-"))
    )
    notebooks = replace(
        notebooks,
        runner="container",
        container=environ.get("NOTEBOOK_CONTAINER") or DEFAULT_NOTEBOOK_CONTAINER,
        aws_env=aws_env,
        stop_grace_seconds=CONTAINER_STOP_GRACE_SECONDS,
    )
    transcribe = replace(config.transcribe or TranscribeConfig(), aws_env=aws_env)
    return replace(
        config, port=port, parts=LOCALSTACK_PARTS, notebooks=notebooks, transcribe=transcribe
    )


def build_twin(config: TwinConfig | None = None) -> Twin:
    config = config or TwinConfig()
    twin = Twin(config.region, config.port, config.host)
    for name in config.parts or tuple(PARTS):
        try:
            part = PARTS[name](twin, config)
        except PartUnavailable as exc:
            if config.parts is not None:
                raise  # asked for by name: its absence is an error
            logger.debug("twin part %r skipped: %s", name, exc)
            continue
        twin.add_part(name, part)
    return twin
