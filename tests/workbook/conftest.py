"""Fixtures for the workbook tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .books import build_book


@pytest.fixture
def make_book(tmp_path: Path) -> Callable[..., Path]:
    """Build a workbook in tmp_path: make_book({"Sheet1": sheet_xml(...)}, name="in.xlsx")."""

    def make(sheets: dict[str, str], name: str = "in.xlsx", **kwargs) -> Path:
        return build_book(tmp_path / name, sheets, **kwargs)

    return make
