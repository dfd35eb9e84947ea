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
    for name in KEY_VARIABLES + ("EXCEL_GLM_PROVIDER", "EXCEL_GLM_BASE_URL", "EXCEL_GLM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return home
