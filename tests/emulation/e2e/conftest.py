"""The e2e tests' site, chosen by TWIN like `make e2e`.

TWIN=embedded (default): the twin with every part, configured exactly as `make e2e` configures
it, started once per module and reset before each test. TWIN=localstack: LocalStack and the
twin's container, which `make test TWIN=localstack` starts (docker compose up); without them the
tests are skipped with the one-line reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulation.core.backends import BackendUnavailable, get_backend
from emulation.core.build import build_twin
from emulation.core.twin import Twin
from emulation.e2e.chain import E2EOptions, twin_config
from emulation.e2e.sites import EmbeddedSite, LocalStackSite, Site


@pytest.fixture(scope="module")
def started_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    sandbox: Path = tmp_path_factory.mktemp("sandbox")
    twin = build_twin(twin_config(E2EOptions(), sandbox))
    twin.start()
    yield twin
    twin.stop()


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Site:
    if get_backend().name == "localstack":
        try:
            return LocalStackSite.connect()
        except BackendUnavailable as exc:
            pytest.skip(str(exc))
    return EmbeddedSite(request.getfixturevalue("twin"))
