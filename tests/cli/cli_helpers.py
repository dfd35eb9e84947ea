"""Helpers for the CLI tests: small workbooks, reading cells back, the paths of shared files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import openpyxl

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "reviews.xlsx"
CORPUS = Path("/work/shared/corpus")


@dataclass(frozen=True)
class CliOutcome:
    """What one CLI invocation did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def write_book(path: Path, rows: Iterable[Iterable[object]], sheet: str = "Data") -> Path:
    """A small workbook with one sheet holding `rows` from A1."""
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    for row in rows:
        worksheet.append(list(row))
    workbook.save(path)
    return path


def cell_values(path: Path, sheet: str, column: str, rows: range) -> list[object]:
    """Values of `column` over `rows`, reopened with openpyxl."""
    workbook = openpyxl.load_workbook(path)
    try:
        worksheet = workbook[sheet]
        return [worksheet[f"{column}{row}"].value for row in rows]
    finally:
        workbook.close()
