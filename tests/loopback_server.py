"""Run an ASGI app with uvicorn in a daemon thread on a free 127.0.0.1 port (the test fakes)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Self


class LoopbackServer:
    """Base of the fake servers: the subclass is the ASGI app; `start()` serves it on loopback."""

    thread_name = "loopback-server"
    uvicorn_options: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Serve on a free loopback port; returns once the server accepts connections."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self, log_level="critical", access_log=False, lifespan="off", **self.uvicorn_options
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=self.thread_name
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the {self.thread_name} server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop the server and join its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def read_request(scope: dict, receive: Callable) -> tuple[bytes, dict[str, str]]:
    """The whole request body and its headers (lower-case names)."""
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return raw, headers
