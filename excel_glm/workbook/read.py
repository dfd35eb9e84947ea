"""Reading the values of an A1 range, streamed (openpyxl's read-only mode after package checks)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from excel_glm.errors import WorkbookError
from excel_glm.workbook import sheetxml
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
        strings = package.related_part(package.workbook_part, "/sharedStrings")
        styles = package.related_part(package.workbook_part, "/styles")
    assert sheet.part is not None
    cells = _read_cells(path, sheet.name, sheet.part, _SideParts(strings, styles), rng)
    return RangeValues(sheet=sheet.name, part=sheet.part, cells=cells)


STRICT_MAIN = b"http://purl.oclc.org/ooxml/spreadsheetml/main"
TRANSITIONAL_MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@dataclass(frozen=True)
class _SideParts:
    """The members holding the shared strings and the styles, as the relationships say."""

    strings: str | None
    styles: str | None


def _transitional(xml: bytes) -> bytes:
    """Strict Open XML's main namespace renamed to the one openpyxl reads (it knows no other).

    The declaration sits on the root element, at the start of the first feed; without this a
    Strict file read as empty cells, silently.
    """
    if STRICT_MAIN in xml:
        return xml.replace(STRICT_MAIN, TRANSITIONAL_MAIN)
    return xml


class _StylesAt:
    """The archive as openpyxl's stylesheet loader sees it: styles where the rels put them."""

    def __init__(self, archive, styles: str) -> None:
        self.archive, self.styles = archive, styles

    def read(self, name: str) -> bytes:
        return _transitional(self.archive.read(self.styles if name == "xl/styles.xml" else name))


def _read_cells(path: Path, sheet: str, part: str, side: _SideParts, rng: A1Range) -> list[CellRef]:
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.reader.strings import read_string_table
    from openpyxl.styles.stylesheet import apply_stylesheet

    with warnings.catch_warnings(), open(path, "rb") as handle:
        warnings.simplefilter("ignore")  # openpyxl warns about parts it does not model
        # A handle, not the path: openpyxl refuses names not ending in .xlsx/.xlsm/.xltx/.xltm.
        # Only what values need is loaded (strings, date formats, the 1904 flag), and the sheet
        # is the part package.py resolved, so both sides of a write agree on which part it is
        # even where openpyxl's own lookup would differ (percent-encoded names, odd folders).
        try:
            reader = ExcelReader(handle, read_only=True, data_only=True, keep_links=False)
            reader.read_manifest()
            if side.strings is None:
                reader.read_strings()
            else:
                with reader.archive.open(side.strings) as stream:
                    reader.shared_strings = read_string_table(_GuardedFeed(stream))
            reader.read_workbook()
            styles_source = _StylesAt(reader.archive, side.styles or "xl/styles.xml")
            apply_stylesheet(styles_source, reader.wb)  # number formats tell dates from numbers
        except WorkbookError:
            raise
        except Exception as exc:  # openpyxl raises many kinds on a malformed package
            raise WorkbookError(f"{path.name} cannot be read as a workbook ({exc})") from None
        try:
            worksheet = _streaming_worksheet(reader.wb, sheet, part, reader.shared_strings)
            return _collect(worksheet, rng)
        except WorkbookError:
            raise
        except Exception as exc:  # openpyxl raises many kinds on a malformed sheet
            raise WorkbookError(f"{path.name}: sheet {sheet!r} cannot be read ({exc})") from None
        finally:
            reader.archive.close()


class _GuardedFeed:
    """A part's stream as openpyxl's parser reads it: big feeds, and no absurdly long token.

    The stdlib parser (expat 2.5) re-scans a token that spans feeds from its start on every
    feed, so one huge tag cost time quadratic in its size at openpyxl's 16 KB reads. Feeding
    1 MB at a time makes 64 times fewer re-scans (bigger feeds hold more parsed XML at once),
    and refusing any stretch without a "<" longer than sheetxml.MAX_ELEMENT (no tag, text or
    value of a real sheet comes near it) bounds the rest.
    """

    FEED = 1 << 20

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.run = 0  # bytes since the last "<"

    def read(self, size: int = -1) -> bytes:
        """At least `size` bytes (FEED when more is asked for nothing in particular)."""
        chunk = _transitional(self.raw.read(max(size, self.FEED)))
        # Only stretches reaching across feeds can exceed the cap (FEED is far below it).
        first = chunk.find(b"<")
        if first < 0:
            self.run += len(chunk)
            longest = self.run
        else:
            longest = self.run + first
            self.run = len(chunk) - chunk.rfind(b"<") - 1
        if longest > sheetxml.MAX_ELEMENT:
            raise WorkbookError(
                f"the workbook XML holds one element over {sheetxml.MAX_ELEMENT >> 20} MB; "
                "refusing it (real cells are far smaller)"
            )
        return chunk

    def close(self) -> None:
        """Close the underlying stream."""
        self.raw.close()

    def __enter__(self) -> _GuardedFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _streaming_worksheet(book, title: str, part: str, strings: list):
    """openpyxl's read-only worksheet for `part`, reading it through a _GuardedFeed."""
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    class GuardedWorksheet(ReadOnlyWorksheet):
        def _get_source(self):
            return _GuardedFeed(super()._get_source())

    return GuardedWorksheet(book, title, part, strings)


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
