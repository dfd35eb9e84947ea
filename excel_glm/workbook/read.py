"""Reading the values of an A1 range, streamed (openpyxl's read-only mode after package checks)."""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from excel_glm.errors import WorkbookError
from excel_glm.workbook.package import open_package
from excel_glm.workbook.ranges import MAX_ROW, A1Range


@dataclass(frozen=True)
class CellRef:
    """One cell of a range: its position and value (None when empty, a formula's cached value)."""

    row: int
    col: int
    value: object


@dataclass(frozen=True)
class RangeValues:
    """The cells of a range, row-major, with the sheet's real name and zip member."""

    sheet: str
    part: str
    cells: list[CellRef]


def read_range(path: Path, rng: A1Range) -> RangeValues:
    """Every cell of `rng`, row-major; a whole-column range stops at its last row with a value."""
    path = Path(path)
    with open_package(path) as package:  # refuses bombs, encryption and corruption first
        sheet = package.worksheet(rng.sheet)
    assert sheet.part is not None
    cells = _read_cells(path, sheet.name, rng)
    return RangeValues(sheet=sheet.name, part=sheet.part, cells=cells)


def _read_cells(path: Path, sheet: str, rng: A1Range) -> list[CellRef]:
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about parts it does not model
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            raise WorkbookError(f"{path.name} cannot be read as a workbook ({exc})") from None
        try:
            return _collect(book[sheet], rng)
        except Exception as exc:  # openpyxl raises many kinds on a malformed sheet
            raise WorkbookError(f"{path.name}: sheet {sheet!r} cannot be read ({exc})") from None
        finally:
            book.close()


def _collect(worksheet, rng: A1Range) -> list[CellRef]:
    """The range's cells from an openpyxl read-only worksheet, padded or trimmed to the range."""
    cells: list[CellRef] = []
    last_with_value = 0
    # An explicit max_row makes openpyxl stop at the last stored row instead of trusting the
    # sheet's <dimension>, which producers often leave wrong. openpyxl yields one tuple per row
    # from min_row on, filling in rows the file leaves out.
    rows = worksheet.iter_rows(
        min_row=rng.min_row,
        max_row=rng.max_row or MAX_ROW,
        min_col=rng.min_col,
        max_col=rng.max_col,
        values_only=True,
    )
    for row_number, values in enumerate(rows, start=rng.min_row):
        for col, value in enumerate(values, start=rng.min_col):
            cells.append(CellRef(row_number, col, _clean(value)))
        if any(v is not None and v != "" for v in values):
            last_with_value = len(cells)
    if rng.max_row is None:
        del cells[last_with_value:]
    elif len(cells) < (rng.max_row - rng.min_row + 1) * rng.width:
        _pad(cells, rng)
    return cells


def _clean(value: object) -> object:
    """Empty strings read as empty cells; _xHHHH_ escapes (Excel's way to store "\\r" and control
    characters) are decoded, as Excel shows them."""
    if isinstance(value, str):
        if value == "":
            return None
        if "_x" in value:
            from openpyxl.utils.escape import unescape

            return unescape(value)
    return value


def _pad(cells: list[CellRef], rng: A1Range) -> None:
    """Add the empty rows openpyxl does not yield below a sheet's last stored row."""
    assert rng.max_row is not None
    next_row = cells[-1].row + 1 if cells else rng.min_row
    for row in range(next_row, rng.max_row + 1):
        cells.extend(CellRef(row, col, None) for col in range(rng.min_col, rng.max_col + 1))
