"""Fixtures for the deploy tests: a twin with the CloudFormation part, and a project to package.

The project is a temporary copy of ``pipeline/``, ``pyproject.toml`` and the instance's lock,
with placeholder on-start script and notebook, so these tests do not depend on the real ones.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.package import INSTANCE_LOCK, PROJECT_ROOT
from deploy.progress import PlainReporter
from deploy.stack import deploy_stack
from emulation.cloudformation.stacks import CloudFormationPart
from emulation.core.twin import Twin

PLACEHOLDER_ON_START = (
    b'#!/bin/bash\n# placeholder on-start script for the deploy tests\nenv > "$ASR_HOME_ENV_DUMP"\n'
)
PLACEHOLDER_NOTEBOOK = json.dumps(
    {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
).encode()


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    """One twin per module (about a second to start); tests reset it when they need to."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    active = Twin._active
    if active is not None:  # a twin started by a wider fixture: share it
        if "cloudformation" not in active.parts:
            active.add_part("cloudformation", CloudFormationPart())
        active.reset()
        yield active
        return
    started = Twin()
    started.add_part("cloudformation", CloudFormationPart())
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def fresh_twin(twin: Twin) -> Twin:
    twin.reset()
    return twin


def point_boto3_at(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The process environment pointing boto3 at a twin (its ``env()``, the ``export`` lines
    `make twin` prints), with no profile or credentials file of the developer's in the way."""
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def make_project(root: Path) -> Path:
    shutil.copytree(
        PROJECT_ROOT / "pipeline",
        root / "pipeline",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "requirements").mkdir()
    shutil.copy(PROJECT_ROOT / INSTANCE_LOCK, root / INSTANCE_LOCK)
    (root / "lifecycle").mkdir()
    (root / "lifecycle" / "on-start.sh").write_bytes(PLACEHOLDER_ON_START)
    (root / "notebooks").mkdir()
    (root / "notebooks" / "transcribe_and_score.ipynb").write_bytes(PLACEHOLDER_NOTEBOOK)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"))


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    """A project of one's own, to change files in."""
    return make_project(tmp_path / "project")


class Captured(PlainReporter):
    """A plain reporter that keeps what it printed."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        super().__init__(out=self.out, err=self.err)

    @property
    def text(self) -> str:
        return self.out.getvalue() + self.err.getvalue()


Deploy = Callable[..., tuple[dict[str, str], Captured]]


@pytest.fixture
def captured() -> Captured:
    """A reporter whose output the test can read (``.text``)."""
    return Captured()


@pytest.fixture
def reporters() -> type[Captured]:
    """Makes reporters whose output the test can read, one per command it runs."""
    return Captured


@pytest.fixture
def deploy(twin: Twin, project: Path) -> Deploy:
    """deploy_stack on the twin with test defaults; returns the outputs and what it printed."""

    def run(stack: str = "t1", params: dict[str, str] | None = None, **kwargs: Any):
        reporter = Captured()
        kwargs.setdefault("project_root", project)
        outputs = deploy_stack(
            twin, stack, params or {}, reporter=reporter, poll_seconds=0.01, **kwargs
        )
        return outputs, reporter

    return run
