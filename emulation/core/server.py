"""moto's server app on 127.0.0.1 with a free port: the twin's AWS API surface.

moto's WSGI app serves every AWS API; the twin may mount apps of its own under reserved path
prefixes on the same server (``mount``: the control API under ``/_twin/``, as LocalStack serves
``/_localstack/``). A path no AWS API uses, so requests signed for AWS never reach them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from emulation.core.control_client import DUMMY_CREDENTIALS

DUMMY_ACCOUNT_ID = "123456789012"  # moto's default account
__all__ = ["DUMMY_ACCOUNT_ID", "DUMMY_CREDENTIALS", "MotoServer", "free_port"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _Mounts:
    """moto's app, with the twin's own apps under their path prefixes."""

    def __init__(self, moto_app: WsgiApp, mounts: dict[str, WsgiApp]) -> None:
        self.moto_app = moto_app
        self.mounts = mounts

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.mounts.items():
            if path.startswith(prefix):
                return app(environ, start_response)
        return self.moto_app(environ, start_response)


class MotoServer:
    """Starts and stops one in-process moto server, and resets its state cheaply."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        # Clients on this machine reach a server bound to every interface (0.0.0.0) locally.
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.mounts: dict[str, WsgiApp] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def mount(self, prefix: str, app: WsgiApp) -> None:
        """Serve ``app`` for every path under ``prefix`` (before or after start)."""
        self.mounts[prefix] = app

    def start(self, timeout: float = 10.0) -> None:
        # werkzeug logs every request at INFO; the twin reports what matters itself.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = _Mounts(DomainDispatcherApplication(create_backend_app), self.mounts)
        # moto's ThreadedMotoServer, with the mounts: a thread per request.
        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="twin-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                # Any HTTP answer means the server is up (this one is a cheap 400 by design).
                urllib.request.urlopen(f"{self.endpoint_url}/moto-api/reset-auth", timeout=1)
            except urllib.error.HTTPError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            else:
                return

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def reset(self) -> None:
        """Clear every service's state (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
