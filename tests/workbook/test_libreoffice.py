"""A real spreadsheet application reads what we write: LibreOffice, headless, one start for all."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from excel_glm.workbook.write import write_cells

from .books import CORPUS, producer_files, sheet_xml
from .test_corpus import ANSWERS, first_worksheet, free_cells

pytestmark = pytest.mark.libreoffice

# Charts, images, macros, tables, prefixed namespaces, rows without r, non-Latin sheet names.
SUBSET = [
    "WithChart.xlsx",
    "WithThreeCharts.xlsx",
    "62629_target.xlsm",
    "0-www-crossref-org.lib.rivier.edu_education-files_suffix-generator.xlsm",
    "ExcelTables.xlsx",
    "65016.xlsx",
    "56278.xlsx",
    "45540_form_Footer.xlsx",
    "bug64512_embed.xlsx",
    "1_NoIden.xlsx",
    "dataValidationTableRange.xlsx",
]
# Every sheet to its own CSV file (LibreOffice >= 7.2): the last token -1 means "all sheets".
ALL_SHEETS_CSV = "csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,-1"
PREFIXED_ROWS = (
    '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>head</x:t></x:is></x:c></x:row>'
    '<x:row r="3"/>'
)


def convert_all(files: list[Path], outdir: Path, profile: Path) -> None:
    """One soffice run for every file; its whole process group dies if it hangs."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.fail("LibreOffice is not installed (Debian: libreoffice-calc; .ci/run installs it)")
    command = [
        soffice,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--convert-to",
        ALL_SHEETS_CSV,
        "--outdir",
        str(outdir),
        *map(str, files),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("LibreOffice did not finish converting within 240 s")
    assert process.returncode == 0, output.decode(errors="replace")


def csv_cell(path: Path, row: int, col: int) -> str | None:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if row > len(rows) or col > len(rows[row - 1]):
        return None
    return rows[row - 1][col - 1]


def test_libreoffice_reads_the_written_cells(tmp_path, make_book):
    written: list[tuple[Path, str, dict[tuple[int, int], str]]] = []
    for original in [CORPUS / name for name in SUBSET] + producer_files():
        name = original.name
        sheet, _ = first_worksheet(original)
        targets = dict(zip(free_cells(original, sheet, len(ANSWERS)), ANSWERS, strict=True))
        output = tmp_path / "books" / name
        output.parent.mkdir(exist_ok=True)
        write_cells(original, output, sheet, targets)
        written.append((output, sheet, targets))
    built = make_book({"Data": sheet_xml(PREFIXED_ROWS, prefix="x")}, name="built.xlsx")
    built_targets = {(1, 2): "=1+1", (2, 1): "<&> 日本語", (3, 3): "@not a function"}
    output = tmp_path / "books" / "built.xlsx"
    write_cells(built, output, "Data", built_targets)
    written.append((output, "Data", built_targets))

    outdir = tmp_path / "csv"
    convert_all([w[0] for w in written], outdir, tmp_path / "profile")

    for output, sheet, targets in written:
        exported = outdir / f"{output.stem}-{sheet}.csv"
        assert exported.exists(), f"LibreOffice wrote no CSV for {output.name}!{sheet}"
        for (row, col), answer in targets.items():
            assert csv_cell(exported, row, col) == answer, (output.name, row, col)
