"""The twin: moto in-process plus the parts no emulator provides, composed into one object.

Each part lives in its own module and follows the same small protocol (``TwinPart``): it is
built with the twin, ``install()`` patches moto's state models (never its wire protocol),
``reset()`` clears what it recorded, ``uninstall()`` undoes its patches. Only one twin can be
installed per process, because the patches are process-wide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import boto3
from botocore.config import Config

from emulation.server import DUMMY_ACCOUNT_ID, DUMMY_CREDENTIALS, MotoServer

if TYPE_CHECKING:
    from botocore.client import BaseClient

DEFAULT_REGION = "us-east-1"


class TwinPart(Protocol):
    def install(self) -> None: ...
    def reset(self) -> None: ...
    def uninstall(self) -> None: ...


class Twin:
    """One running twin: an endpoint, its environment, clients and the parts."""

    _active: Twin | None = None

    def __init__(self, region: str = DEFAULT_REGION, port: int | None = None) -> None:
        self.region = region
        self.account_id = DUMMY_ACCOUNT_ID
        self.server = MotoServer(port)
        self.endpoint_url = self.server.endpoint_url
        self.parts: dict[str, TwinPart] = {}

    def env(self) -> dict[str, str]:
        """The environment a process needs to talk to this twin (what `make twin` prints)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }

    def client(self, service: str, **config: object) -> BaseClient:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(**config) if config else None,
        )

    def add_part(self, name: str, part: TwinPart) -> None:
        self.parts[name] = part
        if Twin._active is self:
            part.install()

    def start(self) -> Twin:
        if Twin._active is not None:
            raise RuntimeError("a twin is already running in this process; stop it first")
        self.server.start()
        Twin._active = self
        for part in self.parts.values():
            part.install()
        return self

    def reset(self) -> None:
        """Back to an empty AWS, cheaply: moto's reset plus each part's."""
        for part in self.parts.values():
            part.reset()
        self.server.reset()

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
