"""moto in-process for the pipeline's unit tests (the twin is for integration tests)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws


@pytest.fixture
def in_process_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``mock_aws`` with dummy credentials, and no endpoint override that could route around it."""
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield
