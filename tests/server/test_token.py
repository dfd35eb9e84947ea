"""The service token: from settings, else generated once, stored 0600 and reused."""

from __future__ import annotations

import os
import stat

import pytest

from excel_glm.config import Settings
from excel_glm.server.app import create_app
from excel_glm.token import load_or_create_token, read_stored_token, token_path

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def settings(**overrides) -> Settings:
    return Settings(provider="local", **overrides)


@posix_only
def test_a_token_is_generated_once_stored_0600_and_reused():
    assert not token_path().exists()

    first = load_or_create_token(settings())
    second = load_or_create_token(settings())

    assert first == second == read_stored_token()
    assert len(first) >= 40
    assert stat.S_IMODE(token_path().stat().st_mode) == 0o600


def test_the_configured_token_wins_and_nothing_is_stored(monkeypatch):
    monkeypatch.setenv("EXCEL_GLM_TOKEN", "from-the-environment")

    assert load_or_create_token(settings()) == "from-the-environment"
    assert not token_path().exists()


@posix_only
def test_a_stored_token_readable_by_others_is_tightened():
    token_path().parent.mkdir(parents=True)
    token_path().write_text("kept-token\n")
    token_path().chmod(0o644)

    assert load_or_create_token(settings()) == "kept-token"
    assert stat.S_IMODE(token_path().stat().st_mode) == 0o600


def test_an_empty_token_file_is_replaced():
    token_path().parent.mkdir(parents=True)
    token_path().write_text("\n")

    token = load_or_create_token(settings())

    assert token and read_stored_token() == token


def test_two_service_instances_share_the_stored_token():
    first = create_app(settings()).state.service.token
    second = create_app(settings()).state.service.token

    assert first == second == read_stored_token()
