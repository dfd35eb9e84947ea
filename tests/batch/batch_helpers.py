"""Helpers for the batch tests: what a command did, small workbooks, reading cells back."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import openpyxl


@dataclass(frozen=True)
class Outcome:
    """What one `excel-glm batch ...` invocation did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def job_id(self) -> str:
        """The job id a successful submit printed."""
        match = re.search(r"submitted batch job (\S+):", self.stdout)
        assert match, self.stdout + self.stderr
        return match.group(1)


def write_book(path: Path, rows: Iterable[Iterable[object]], sheet: str = "Data") -> Path:
    """A small workbook with one sheet holding `rows` from A1."""
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    for row in rows:
        worksheet.append(list(row))
    workbook.save(path)
    return path


def column(path: Path, letter: str, rows: range, sheet: str = "Data") -> list[object]:
    """Values of column `letter` over `rows`, reopened with openpyxl."""
    # From the bytes, so that a backup's `.bak` name does not matter to openpyxl.
    workbook = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))
    try:
        return [workbook[sheet][f"{letter}{row}"].value for row in rows]
    finally:
        workbook.close()


def translate_key(text: str, to: str = "English", model: str = "glm-5") -> str:
    """The cache key the online engine uses for a translate answer of `text`."""
    from excel_glm.cache import cache_key
    from excel_glm.tasks import make_task

    task = make_task("translate", {"to": to})
    return cache_key(
        provider="glm",
        model=model,
        task="translate",
        version=task.version,
        params=task.params(),
        text=text,
    )


def sent_texts(lines: list[dict]) -> list[str]:
    """The cell texts of uploaded JSONL lines, in order."""
    import json

    texts = []
    for line in lines:
        user = line["body"]["messages"][-1]["content"]
        texts += [item["text"] for item in json.loads(user)["items"]]
    return texts
