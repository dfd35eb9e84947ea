"""Fixtures for the service tests: an app built by create_app over the fake GLM server, and a
client that talks to it in-process as the add-in would (https://localhost:8765)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from excel_glm.config import Settings
from excel_glm.server.app import create_app

BASE_URL = "https://localhost:8765"


@pytest.fixture
def glm_settings(fake_glm, tmp_path) -> Callable[..., Settings]:
    """Settings for the glm provider pointed at the fake server; keyword overrides allowed."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "provider": "glm",
            "api_key": fake_glm.api_key,
            "base_url": fake_glm.base_url,
            "addin_dir": tmp_path / "addin",
            "max_attempts": 2,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@asynccontextmanager
async def running(app) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client carrying the app's token."""
    token = app.state.service.token
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=headers, timeout=30
        ) as client:
            yield client


@pytest.fixture
def serve_app():
    """`async with serve_app(app) as client`: the app running, a client with its token."""
    return running


@pytest.fixture
async def client(glm_settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a service over the fake GLM server, with the right token."""
    async with running(create_app(glm_settings())) as client:
        yield client
