"""Helpers for the UDF tests: a real excel-glm service served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from excel_glm.config import Settings


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningService:
    url: str
    port: int
    settings: Settings


class ServiceThread:
    """uvicorn serving an app in a background thread, stopped cleanly on exit."""

    def __init__(self, app, port: int, **ssl_options: str) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **ssl_options
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def service_settings(fake_glm, **overrides: object) -> Settings:
    """Settings for a service whose provider is the fake GLM server, with few retries."""
    options: dict[str, object] = {
        "provider": "glm",
        "api_key": fake_glm.api_key,
        "base_url": fake_glm.base_url,
        "max_attempts": 2,
        "request_timeout_s": 10.0,
    }
    options.update(overrides)
    return Settings(**options)
