"""A real excel-glm service (uvicorn on a free loopback port) backed by the fake GLM server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from excel_glm.udfs_client import close_shared_clients

from .udf_service import RunningService, ServiceThread, free_port, service_settings


@pytest.fixture
def start_service(fake_glm, monkeypatch) -> Iterator:
    """Start a real service with given settings overrides; the UDFs are pointed at it."""
    from excel_glm.server.app import create_app

    running: list[ServiceThread] = []

    def start(
        *, https: bool = False, point_udfs: bool = True, **overrides: object
    ) -> RunningService:
        port = free_port()
        settings = service_settings(fake_glm, port=port, **overrides)
        tls: dict[str, str] = {}
        if https:
            from excel_glm.certs import ensure_certificates

            certs = ensure_certificates()
            tls = {"ssl_certfile": str(certs.cert), "ssl_keyfile": str(certs.key)}
        service = ServiceThread(create_app(settings), port, **tls).__enter__()
        running.append(service)
        url = f"https://localhost:{port}" if https else f"http://127.0.0.1:{port}"
        if point_udfs:
            monkeypatch.setenv("EXCEL_GLM_SERVICE_URL", url)
        return RunningService(url=url, port=port, settings=settings)

    yield start
    close_shared_clients()
    for service in running:
        service.__exit__()


@pytest.fixture
def service(start_service) -> RunningService:
    """A running service with its generated token stored where the UDFs look for it."""
    return start_service()
