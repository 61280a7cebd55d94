"""Shared fixtures: the twin (started once per test module, reset before each test) and Lambda zips.

The started twin is module-scoped rather than session-scoped because a process can hold only
one installed twin (its patches on moto are process-wide), and some modules start their own
Twin with special settings. Starting one costs a few tens of milliseconds; ``reset()`` is
cheaper still. Asynchronous retries wait 0.05 s here instead of AWS's one and two minutes.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from deploy.cli.config import CONFIG_ENV
from emulation.background.state import DIR_ENV
from emulation.core.build import TwinConfig, build_twin
from emulation.core.twin import Twin
from emulation.sagemaker.config import NotebookHostConfig

TEST_RETRY_DELAYS = (0.05, 0.05)
# Notebook instances for tests: AWS's minutes of Pending, Stopping and Updating in tenths of a
# second, and a hook limit of seconds (AWS: 5 minutes) that a test can still reach.
QUICK_NOTEBOOKS: dict[str, float] = {
    "hook_limit_seconds": 20.0,
    "pending_seconds": 0.1,
    "stopping_seconds": 0.2,
    "updating_seconds": 0.1,
    "stop_grace_seconds": 1.0,
}


# Modules whose tests are independent (each deploys its own stack), so make test may run them
# on different workers: the long chain tests. Marked ``spread`` too, which collection checks.
SPREAD_MODULES = frozenset(
    {
        "tests/emulation/e2e/test_chain.py",
        "tests/emulation/e2e/test_instance_runs.py",
        "tests/emulation/iam/test_template_sweep.py",
    }
)


class SpreadScheduling(LoadScopeScheduling):
    """make test's ``--dist loadfile``, except that each test of SPREAD_MODULES is a unit of
    its own, handed out first (the longest tests first: none is left to run alone at the end).
    Other modules run whole on one worker: their tests may share a module's twin and build on
    one another. (pytest-xdist's loadgroup would do this, but 3.8.0 cannot mark pytest 9's
    node ids.)"""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return nodeid if path in SPREAD_MODULES else path

    def _assign_work_unit(self, node: Any) -> None:
        first = next((s for s in self.workqueue if "::" in s), None)
        if first is not None:
            self.workqueue.move_to_end(first, last=False)
        super()._assign_work_unit(node)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> SpreadScheduling | None:
    return SpreadScheduling(config, log) if config.getvalue("dist") == "loadfile" else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module marked ``spread`` must be listed in SPREAD_MODULES, and the other way round."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if (item.get_closest_marker("spread") is not None) != (path in SPREAD_MODULES):
            raise pytest.UsageError(
                f"{item.nodeid}: the spread marker and tests/conftest.py's SPREAD_MODULES disagree"
            )


def quick_notebooks(sandbox_root: Path, **settings: Any) -> NotebookHostConfig:
    """A notebook host's settings for tests (QUICK_NOTEBOOKS), ``settings`` overriding them."""
    return NotebookHostConfig(sandbox_root=sandbox_root, **{**QUICK_NOTEBOOKS, **settings})


def trust_policy(service: str) -> dict[str, Any]:
    """A role trust policy letting one AWS service assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


LAMBDA_TRUST_POLICY = trust_policy("lambda.amazonaws.com")


@pytest.fixture(autouse=True, scope="session")
def away_from_the_developers_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests neither see nor stop a background twin the developer runs in this checkout
    (``make e2e`` would use it), nor read their asr-monitor.toml."""
    folder = tmp_path_factory.mktemp("elsewhere")
    saved = {name: os.environ.get(name) for name in (DIR_ENV, CONFIG_ENV)}
    os.environ[DIR_ENV] = str(folder / "twin")
    os.environ[CONFIG_ENV] = str(folder / "asr-monitor.toml")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def started_twin() -> Iterator[Twin]:
    twin = build_twin(TwinConfig(lambda_retry_delays=TEST_RETRY_DELAYS))
    twin.start()
    yield twin
    twin.stop()


@pytest.fixture
def twin(started_twin: Twin) -> Twin:
    """The module's twin, reset to an empty AWS (no resources, invocations or errors)."""
    started_twin.reset()
    return started_twin


def lambda_zip(files: dict[str, str]) -> bytes:
    """A Lambda deployment package holding ``files`` (path in the zip -> source text)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


# The runtime's tests exercise invocation, not IAM: their functions' role may do anything.
# IAM is tested with scoped roles (tests/emulation/iam) and the template's own roles.
ALLOW_EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def unrestricted_role(twin: Twin, name: str, service: str) -> str:
    """The ARN of a role ``service`` may assume, allowed everything."""
    iam = twin.client("iam")
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy(service))
    )
    iam.put_role_policy(
        RoleName=name, PolicyName="allow-everything", PolicyDocument=json.dumps(ALLOW_EVERYTHING)
    )
    return role["Role"]["Arn"]


@pytest.fixture
def lambda_role(twin: Twin) -> str:
    """The ARN of an IAM role Lambda functions can be created with (allowed everything)."""
    return unrestricted_role(twin, "twin-test-lambda", "lambda.amazonaws.com")


@pytest.fixture
def notebook_role(twin: Twin) -> str:
    """The ARN of an IAM role notebook instances can be created with (allowed everything)."""
    return unrestricted_role(twin, "twin-test-notebook", "sagemaker.amazonaws.com")


@pytest.fixture
def deploy_lambda(twin: Twin, lambda_role: str) -> Callable[..., str]:
    """Factory: ``deploy_lambda(name, source, **create_function_kwargs) -> function ARN``.

    ``source`` becomes ``app.py`` in the zip; the handler defaults to ``app.handler``.
    """

    def deploy(name: str, source: str, **kwargs: Any) -> str:
        settings = {"Runtime": "python3.11", "Handler": "app.handler", "Timeout": 10, **kwargs}
        created = twin.client("lambda").create_function(
            FunctionName=name,
            Role=lambda_role,
            Code={"ZipFile": lambda_zip({"app.py": source})},
            **settings,
        )
        return created["FunctionArn"]

    return deploy
