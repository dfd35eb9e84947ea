"""Fixtures for the engine tests: settings and an engine pointed at the fake GLM server."""

from __future__ import annotations

import pytest

from excel_glm.config import Settings
from excel_glm.engine import Engine


@pytest.fixture
def make_settings(fake_glm, tmp_path):
    """Settings for the fake server; keyword arguments override any field."""

    def build(**overrides) -> Settings:
        fields = {
            "api_key": fake_glm.api_key,
            "base_url": fake_glm.base_url,
            "provider": "glm",
            "cache_path": tmp_path / "cache.sqlite3",
        }
        fields.update(overrides)
        return Settings(**fields)

    return build


@pytest.fixture
async def make_engine(make_settings):
    """Build engines on the fake server; all are closed after the test."""
    engines: list[Engine] = []

    def build(**overrides) -> Engine:
        engine = Engine(make_settings(**overrides))
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.aclose()
