"""Fixtures shared by every test: an isolated user directory and no real API key."""

from __future__ import annotations

import pytest

KEY_VARIABLES = ("EXCEL_GLM_API_KEY", "ZAI_API_KEY", "ZHIPUAI_API_KEY")


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep every test away from the real config, cache and token, and from real keys."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("EXCEL_GLM_CACHE_PATH", str(home / "cache.sqlite3"))
    monkeypatch.setenv("EXCEL_GLM_CONFIG", str(home / "no-config.toml"))
    for name in (*KEY_VARIABLES, "EXCEL_GLM_PROVIDER", "EXCEL_GLM_BASE_URL", "EXCEL_GLM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def _fake_glm_server():
    """One fake GLM server for the whole session; `fake_glm` resets it for each test."""
    try:
        from fake_glm import FakeGlmServer  # tests/ is on sys.path (rootdir conftest)
    except ImportError:
        from tests.fake_glm import FakeGlmServer

    server = FakeGlmServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_glm(_fake_glm_server, monkeypatch):
    """A running fake GLM server (tests/fake_glm.py), reset to defaults: `.base_url`, `.api_key`,
    `.inject(...)`, `.set_latency(...)`, `.concurrency_limit`, `.requests`, `.oracle`.
    Engines built while it is active retry after milliseconds instead of seconds."""
    from excel_glm.engine.concurrency import reset_shared_limiters

    # Settings read it, so engines built in this process and CLI subprocesses alike retry fast.
    monkeypatch.setenv("EXCEL_GLM_RETRY_DELAY_SCALE", "0.001")
    _fake_glm_server.reset()
    reset_shared_limiters()
    yield _fake_glm_server
    _fake_glm_server.reset()
    reset_shared_limiters()
