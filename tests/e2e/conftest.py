"""The e2e tests' twin: every part, configured exactly as `make e2e` configures it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulation.build import build_twin
from emulation.e2e import E2EOptions, twin_config
from emulation.twin import Twin


@pytest.fixture(scope="module")
def started_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    sandbox: Path = tmp_path_factory.mktemp("sandbox")
    twin = build_twin(twin_config(E2EOptions(), sandbox))
    twin.start()
    yield twin
    twin.stop()
