"""Fixtures for the batch tests: the fake Batch API, the `batch` commands and a workbook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from excel_glm.cli import _OneLineErrorsGroup
from excel_glm.cli_batch import batch_app

from .batch_helpers import Outcome, write_book


@pytest.fixture(scope="session")
def _fake_batch_server():
    """One fake Batch API server for the session; `fake_batch` resets it for each test."""
    try:
        from fake_glm_batch import FakeBatchServer
    except ImportError:
        from tests.fake_glm_batch import FakeBatchServer

    server = FakeBatchServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_batch(_fake_batch_server, monkeypatch, tmp_path):
    """The fake Batch API, reset, with the environment pointing the CLI at it (job records go
    to a temporary data dir)."""
    _fake_batch_server.reset()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("EXCEL_GLM_API_KEY", _fake_batch_server.api_key)
    monkeypatch.setenv("EXCEL_GLM_BASE_URL", _fake_batch_server.base_url)
    monkeypatch.setenv("EXCEL_GLM_RETRY_DELAY_SCALE", "0.001")
    yield _fake_batch_server
    _fake_batch_server.reset()


@pytest.fixture
def run_batch() -> Callable[..., Outcome]:
    """Run `excel-glm batch ARGS...` in-process, under the real root command's error handling."""
    app = typer.Typer(cls=_OneLineErrorsGroup, add_completion=False)
    app.add_typer(batch_app, name="batch")

    def invoke(*args: object) -> Outcome:
        result = CliRunner().invoke(app, ["batch", *(str(a) for a in args)])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return invoke


TEXTS = [
    "Bonjour le monde",
    "Contact: Alice alice@example.com, age 41",
    None,
    "Bonjour le monde",
    "Das Essen war gut",
    "Muy bien, gracias",
]


@pytest.fixture
def book(tmp_path) -> Path:
    """Sheet 'Data': a header, then texts in B2:B7 (one blank, one repeated)."""
    rows = [("id", "text"), *((n, text) for n, text in enumerate(TEXTS, 1))]
    return write_book(tmp_path / "book.xlsx", rows)


@pytest.fixture
def submit(run_batch, book, fake_batch) -> Callable[..., Outcome]:
    """Submit a translate job over `book`'s B2:B7 into C; extra arguments are appended."""

    def invoke(*extra: object, target: Path | None = None) -> Outcome:
        outcome = run_batch(
            "submit",
            target or book,
            "-r",
            "Data!B2:B7",
            "--into",
            "C",
            "--task",
            "translate",
            "--to",
            "English",
            *extra,
        )
        assert outcome.exit_code == 0, outcome.stderr
        return outcome

    return invoke
