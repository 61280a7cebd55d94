"""One client cache for every caller: handlers, the notebook, the deploy path and the twin.

``Clients`` takes whatever the caller holds (a boto3 Session, the twin, a backend's router, or
a mapping of ready clients, as tests pass) and hands out one client per service. Standard
library and boto3 only, so the Lambda handlers use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from botocore.client import BaseClient


class ClientSource(Protocol):
    """Anything with ``client(service_name)``: ``boto3.Session``, the twin, a backend router."""

    def client(self, service_name: str, /) -> Any: ...


class Clients:
    """Caches one client per service; the region and account are read once, on first use.

    Built from another ``Clients``, it shares that one's cache.
    """

    def __init__(self, source: ClientSource | Mapping[str, Any] | Clients) -> None:
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

    def client(self, service: str, /) -> BaseClient:
        """The same as calling: so a ``Clients`` is itself a ``ClientSource``."""
        return self(service)

    @property
    def region(self) -> str:
        return self("sts").meta.region_name

    @property
    def partition(self) -> str:
        return self("sts").meta.partition

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self("sts").get_caller_identity()["Account"]
        return self._account_id
