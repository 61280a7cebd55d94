"""The twin: moto in-process plus the parts no emulator provides, composed into one object.

Each part lives in the package of the AWS service it emulates and follows the same small
protocol (``TwinPart``): it is built with the twin, ``install()`` patches moto's state models
(never its wire protocol), ``reset()`` clears what it recorded, ``uninstall()`` undoes its
patches. Only one twin can be installed per process, because the patches are process-wide.

This module knows no part: parts import it, and ``core.build`` composes them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

import boto3
from botocore.config import Config

from emulation.core.control_client import client_env
from emulation.core.errors import EmulationError
from emulation.core.server import DUMMY_ACCOUNT_ID, DUMMY_CREDENTIALS, MotoServer

if TYPE_CHECKING:
    from botocore.client import BaseClient

DEFAULT_REGION = "us-east-1"


class TwinPart(Protocol):
    def install(self) -> None: ...
    def reset(self) -> None: ...
    def uninstall(self) -> None: ...


P = TypeVar("P")


class PartMissing(EmulationError):
    """The twin was built without a part that is needed (``Twin.part``)."""


@dataclass(frozen=True)
class TwinError:
    """Something that went wrong inside the twin (a handler raised, a delivery failed...).

    The twin never swallows an error: every part records it here and logs it, so tests, e2e and
    `serve` can show it.
    """

    part: str
    message: str
    traceback: str | None = None
    context: dict[str, object] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Twin:
    """One running twin: an endpoint, its environment, clients and the parts."""

    _active: Twin | None = None

    def __init__(
        self, region: str = DEFAULT_REGION, port: int | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.region = region
        self.account_id = DUMMY_ACCOUNT_ID
        self.server = MotoServer(port, host)
        self.endpoint_url = self.server.endpoint_url
        self.parts: dict[str, TwinPart] = {}
        self.errors: list[TwinError] = []
        self._errors_lock = threading.Lock()

    def env(self) -> dict[str, str]:
        """The environment a process needs to talk to this twin (what `make twin` prints)."""
        return client_env(self.endpoint_url, self.region)

    def client(self, service: str, **config: object) -> BaseClient:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(**config) if config else None,
        )

    def record_error(
        self, part: str, message: str, *, traceback: str | None = None, **context: object
    ) -> TwinError:
        """Log an error under ``emulation.<part>`` and keep it in ``errors``."""
        error = TwinError(part, message, traceback, context)
        with self._errors_lock:
            self.errors.append(error)
        detail = f"{message}\n{traceback.rstrip()}" if traceback else message
        logging.getLogger(f"emulation.{part}").error("%s", detail)
        return error

    def part(self, kind: type[P]) -> P:
        """The part of this class (typed, unlike ``parts[name]``); PartMissing if not composed."""
        found = self.find_part(kind)
        if found is None:
            names = ", ".join(self.parts) or "none"
            raise PartMissing(f"the twin has no {kind.__name__} part (parts: {names})")
        return found

    def find_part(self, kind: type[P]) -> P | None:
        """The part of this class, or None when the twin was built without it."""
        return next((part for part in self.parts.values() if isinstance(part, kind)), None)

    def add_part(self, name: str, part: TwinPart) -> None:
        self.parts[name] = part
        if Twin._active is self:
            part.install()

    def start(self) -> Twin:
        if Twin._active is not None:
            raise EmulationError("a twin is already running in this process; stop it first")
        self.server.start()
        self.server.reset()  # moto's state is process-wide: start from an empty AWS
        Twin._active = self
        for part in self.parts.values():
            part.install()
        return self

    def reset(self) -> None:
        """Back to an empty AWS, cheaply: moto's reset plus each part's."""
        for part in self.parts.values():
            part.reset()
        self.server.reset()
        with self._errors_lock:
            self.errors.clear()

    def stop(self) -> None:
        for part in reversed(list(self.parts.values())):
            part.uninstall()
        self.server.stop()
        Twin._active = None

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def export_lines(env: dict[str, str]) -> list[str]:
    return [f"export {key}={value}" for key, value in env.items()]
