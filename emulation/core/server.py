"""moto's ThreadedMotoServer on 127.0.0.1 with a free port: the twin's AWS API surface."""

from __future__ import annotations

import logging
import socket
import time
import urllib.error
import urllib.request

from moto.server import ThreadedMotoServer

DUMMY_ACCOUNT_ID = "123456789012"  # moto's default account
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class MotoServer:
    """Starts and stops one in-process moto server, and resets its state cheaply."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.port = port or free_port(host)
        # Clients on this machine reach a server bound to every interface (0.0.0.0) locally.
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address=host, port=self.port, verbose=False)

    def start(self, timeout: float = 10.0) -> None:
        # werkzeug logs every request at INFO; the twin reports what matters itself.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
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
        self._server.stop()

    def reset(self) -> None:
        """Clear every service's state (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
