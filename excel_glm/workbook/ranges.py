"""A1 ranges and target anchors: parsing "Sheet1!B2:B100", "'My Sheet'!B:B", "C", "C5"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from excel_glm.errors import RangeSpecError

MAX_ROW = 1_048_576  # Excel's grid: rows 1..1048576, columns A..XFD
MAX_COL = 16_384

_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
_COLUMN = re.compile(r"^\$?([A-Za-z]{1,3})$")
# Characters Excel forbids in a sheet name; a quoted name may hold anything else.
_FORBIDDEN_IN_SHEET_NAME = set("[]:*?/\\")


@dataclass(frozen=True)
class A1Range:
    """A rectangle of one worksheet; `max_row` None means down to the sheet's last used row."""

    sheet: str | None  # None: the first (active) worksheet
    min_col: int
    min_row: int
    max_col: int
    max_row: int | None

    @property
    def width(self) -> int:
        """Number of columns in the range."""
        return self.max_col - self.min_col + 1

    def __str__(self) -> str:
        first = f"{column_letter(self.min_col)}{self.min_row}"
        last = column_letter(self.max_col) + ("" if self.max_row is None else str(self.max_row))
        if self.max_row is None and self.min_row == 1:
            first = column_letter(self.min_col)
        body = f"{first}:{last}"
        if self.sheet is None:
            return body
        return f"{quote_sheet_name(self.sheet)}!{body}"


def column_letter(index: int) -> str:
    """1 -> "A", 28 -> "AB", 16384 -> "XFD"."""
    if not 1 <= index <= MAX_COL:
        raise RangeSpecError(f"column number {index} is outside A..XFD")
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """ "A" -> 1, "ab" -> 28, "XFD" -> 16384; raises RangeSpecError for anything else."""
    if not letters or not letters.isascii() or not letters.isalpha() or len(letters) > 3:
        raise RangeSpecError(f"{letters!r} is not a column letter")
    index = 0
    for char in letters.upper():
        index = index * 26 + (ord(char) - 64)
    if index > MAX_COL:
        raise RangeSpecError(f"column {letters.upper()} is beyond XFD, Excel's last column")
    return index


def cell_address(row: int, col: int) -> str:
    """(5, 3) -> "C5"."""
    return f"{column_letter(col)}{row}"


def parse_cell(ref: str) -> tuple[int, int]:
    """ "C5" -> (5, 3) as (row, col); raises RangeSpecError."""
    match = _CELL.match(ref.strip())
    if not match:
        raise RangeSpecError(f"{ref!r} is not a cell address like C5")
    col = column_index(match.group(1))
    row = int(match.group(2))
    if not 1 <= row <= MAX_ROW:
        raise RangeSpecError(f"row {row} in {ref!r} is outside 1..{MAX_ROW}")
    return row, col


def quote_sheet_name(name: str) -> str:
    """The sheet name as it appears before "!" in a reference, quoted when needed."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) and not _CELL.match(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def _split_sheet(spec: str) -> tuple[str | None, str]:
    """Separate "'It''s'!B2:B9" into ("It's", "B2:B9")."""
    if spec.startswith("'"):
        i, name = 1, []
        while i < len(spec):
            if spec[i] == "'":
                if spec[i + 1 : i + 2] == "'":
                    name.append("'")
                    i += 2
                    continue
                break
            name.append(spec[i])
            i += 1
        else:
            raise RangeSpecError(f"unterminated quote in sheet name of {spec!r}")
        rest = spec[i + 1 :]
        if not rest.startswith("!"):
            raise RangeSpecError(f"expected '!' after the quoted sheet name in {spec!r}")
        sheet = "".join(name)
        body = rest[1:]
    elif "!" in spec:
        sheet, body = spec.rsplit("!", 1)
    else:
        return None, spec
    if not sheet or (sheet != sheet.strip() and not spec.startswith("'")):
        raise RangeSpecError(f"empty or badly spaced sheet name in {spec!r}")
    if _FORBIDDEN_IN_SHEET_NAME & set(sheet):
        raise RangeSpecError(f"sheet name {sheet!r} holds a character Excel forbids ([]:*?/\\)")
    return sheet, body


def parse_range(spec: str) -> A1Range:
    """Parse "Sheet1!B2:B10001", "'My Sheet'!B2:B9", "'It''s'!B:B", "B2:B10", "B:B" or "B2"."""
    if not isinstance(spec, str) or not spec.strip():
        raise RangeSpecError("the range is empty; give one like Sheet1!B2:B100 or B:B")
    sheet, body = _split_sheet(spec.strip())
    body = body.strip()
    if not body:
        raise RangeSpecError(f"no cells after the sheet name in {spec!r}")
    first, sep, last = body.partition(":")
    if not sep:
        last = first
    if sep and _COLUMN.match(first) and _COLUMN.match(last):
        min_col, max_col = column_index(first.lstrip("$")), column_index(last.lstrip("$"))
        min_row, max_row = 1, None
    elif _CELL.match(first) and _CELL.match(last):
        min_row, min_col = parse_cell(first)
        max_row, max_col = parse_cell(last)
        if max_row < min_row:
            raise RangeSpecError(f"the range {spec!r} ends above where it starts")
    else:
        raise RangeSpecError(
            f"{spec!r} is not an A1 range (like Sheet1!B2:B100, 'My Sheet'!B:B, B2:C9)"
        )
    if max_col < min_col:
        raise RangeSpecError(f"the range {spec!r} ends left of where it starts")
    return A1Range(sheet, min_col, min_row, max_col, max_row)


def parse_target(spec: str, source: A1Range) -> tuple[int, int]:
    """The (row, col) where answers start: "C" -> (source's first row, 3); "C5" -> (5, 3)."""
    text = spec.strip() if isinstance(spec, str) else ""
    if "!" in text:
        raise RangeSpecError(
            f"--into {spec!r}: answers go to the source's sheet; give only C or C5"
        )
    if _COLUMN.match(text):
        return source.min_row, column_index(text.lstrip("$"))
    if _CELL.match(text):
        return parse_cell(text)
    raise RangeSpecError(f"--into {spec!r} is neither a column letter (C) nor a cell (C5)")
