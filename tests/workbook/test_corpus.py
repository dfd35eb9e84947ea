"""Every workbook of the shared corpus: write answers into an empty column, lose nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import openpyxl
import pytest

from excel_glm.errors import WorkbookError
from excel_glm.workbook.package import open_package
from excel_glm.workbook.ranges import MAX_COL, column_letter, parse_range, quote_sheet_name
from excel_glm.workbook.read import read_range
from excel_glm.workbook.write import write_cells

from .books import CORPUS, FIDELITY_TOOL, corpus_files, producer_files

ANSWERS = ["=SUM(A1:A9)", "a <&> b — ünïcødé 日本語 😀", "  padded  ", "+49 30 1234", "plain"]
REFUSED = {"poc-xmlbomb-empty.xlsx": "doctype"}  # file -> what its one clear error must say
FILES = corpus_files()
PRODUCED = producer_files()


def test_the_corpus_is_there():
    assert len(FILES) >= 62, f"expected the 62-file corpus at {CORPUS}"
    assert len(PRODUCED) >= 4
    assert FIDELITY_TOOL.exists()


def first_worksheet(path: Path) -> tuple[str, str]:
    with open_package(path) as package:
        sheet = next(s for s in package.sheets() if s.kind == "worksheet" and s.part)
        assert sheet.part is not None
        return sheet.name, sheet.part


def free_cells(path: Path, name: str, count: int) -> list[tuple[int, int]]:
    """`count` cells of one column right of everything the sheet holds (below it if XFD is used)."""
    used = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl grumbles about parts it does not model
        book = openpyxl.load_workbook(path, read_only=True)
        for row in book[name].iter_rows():
            used.update((c.row, c.column) for c in row if getattr(c, "value", None) is not None)
        book.close()
    last_row = max((r for r, _ in used), default=0)
    last_col = max((c for _, c in used), default=0)
    if last_col + 2 <= MAX_COL:
        return [(2 + i, last_col + 2) for i in range(count)]
    return [(last_row + 2 + i, 2) for i in range(count)]


def fidelity(original: Path, output: Path, part: str) -> dict:
    command = [sys.executable, str(FIDELITY_TOOL), str(original), str(output)]
    run = subprocess.run(
        [*command, "--may-change", part, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("original", FILES + PRODUCED, ids=[p.name for p in FILES + PRODUCED])
def test_write_back_changes_only_the_target_sheet(original: Path, tmp_path: Path):
    output = tmp_path / original.name
    if original.name in REFUSED:
        with pytest.raises(WorkbookError) as caught:
            write_cells(original, output, None, {(2, 2): "x"})
        assert REFUSED[original.name] in str(caught.value).lower()
        assert not output.exists()
        return
    name, part = first_worksheet(original)
    targets = dict(zip(free_cells(original, name, len(ANSWERS)), ANSWERS, strict=True))

    report = write_cells(original, output, name, targets)

    assert (report.written, report.part) == (len(ANSWERS), part)
    result = fidelity(original, output, part)
    assert result["ok"], result
    assert result["parts_after"] == result["parts_before"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl grumbles about parts it does not model
        sheet = openpyxl.load_workbook(output)[name]
    for (row, c), answer in targets.items():
        cell = sheet.cell(row, c)
        assert (cell.value, cell.data_type) == (answer, "s")
    rows = [r for r, _ in targets]
    col = next(iter(targets))[1]
    spec = (
        f"{quote_sheet_name(name)}!{column_letter(col)}{min(rows)}:{column_letter(col)}{max(rows)}"
    )
    read_back = read_range(output, parse_range(spec))
    assert [c.value for c in read_back.cells] == ANSWERS
