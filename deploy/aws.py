"""One way to get boto3 clients from whatever the caller holds: a Session, a Twin, or a mapping.

The deploy code never builds endpoints itself: a boto3 Session honours AWS_ENDPOINT_URL and the
per-service variables, and the twin hands out clients bound to its own endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from botocore.client import BaseClient


class ClientSource(Protocol):
    """Anything with ``client(service_name)``: ``boto3.Session`` and ``emulation.twin.Twin``."""

    def client(self, service_name: str, /) -> Any: ...


class Clients:
    """Caches one client per service; the region and account are read once, on first use."""

    def __init__(self, source: ClientSource | Mapping[str, BaseClient] | Clients) -> None:
        if isinstance(source, Clients):
            self._source: Any = source._source
            self._cache: dict[str, BaseClient] = source._cache
        else:
            self._source = source
            self._cache = {}
        self._account_id: str | None = None

    def __call__(self, service: str) -> BaseClient:
        if service not in self._cache:
            if isinstance(self._source, Mapping):
                self._cache[service] = self._source[service]
            else:
                self._cache[service] = self._source.client(service)
        return self._cache[service]

    @property
    def region(self) -> str:
        return self("cloudformation").meta.region_name

    @property
    def partition(self) -> str:
        return self("cloudformation").meta.partition

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self("sts").get_caller_identity()["Account"]
        return self._account_id


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
