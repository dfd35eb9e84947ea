"""Fixtures for the CLI tests: workbooks to process, the CLI runner and the fake GLM wired in."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from excel_glm.cli import app

from .cli_helpers import SAMPLE, CliOutcome, write_book


@pytest.fixture(autouse=True)
def bugs_raise(monkeypatch):
    """A bug surfaces as its traceback in these tests, not as the one line a user would see."""
    monkeypatch.setenv("EXCEL_GLM_DEBUG", "1")


@pytest.fixture
def run_cli() -> Callable[..., CliOutcome]:
    """Run `excel-glm ARGS...` in-process; returns exit code, stdout and stderr apart."""

    def invoke(*args: object) -> CliOutcome:
        result = CliRunner().invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliOutcome(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def glm_env(fake_glm, monkeypatch):
    """Point the CLI at the fake GLM server with a valid key; yields the server."""
    monkeypatch.setenv("EXCEL_GLM_API_KEY", fake_glm.api_key)
    monkeypatch.setenv("EXCEL_GLM_BASE_URL", fake_glm.base_url)
    monkeypatch.setenv("EXCEL_GLM_PROVIDER", "glm")
    return fake_glm


@pytest.fixture
def book(tmp_path) -> Path:
    """A workbook with a header and four texts in column B of sheet 'Data'."""
    return write_book(
        tmp_path / "book.xlsx",
        [
            ("id", "text"),
            (1, "Bonjour le monde"),
            (2, "Contact: Alice alice@example.com, age 41"),
            (3, None),
            (4, "Bonjour le monde"),
        ],
    )


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A copy of samples/reviews.xlsx to write beside."""
    return Path(shutil.copy2(SAMPLE, tmp_path / "reviews.xlsx"))
