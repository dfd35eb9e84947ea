"""The input conversion rule: what text a model sees for a cell value, in one pure function.

None, "" or whitespace only        -> blank (no call, blank result)
str                                -> as is
bool                               -> "TRUE" / "FALSE" (as Excel shows them)
int / float                        -> shortest round-trip text; integral floats without ".0"
                                      (3.0 -> "3", 0.1 -> "0.1", 1e21 -> "1e+21"); NaN/inf as text
datetime / date / time             -> ISO 8601 ("2026-11-26T09:30:00", "2026-11-26", "09:30:00")
an Excel error value ("#N/A"...)   -> no call; the cell gets "input is an Excel error: #N/A"
text over 32,767 characters        -> no call; the cell gets an error (Excel's cell limit)
text with an unpaired surrogate    -> no call; the cell gets an error (it is not valid Unicode)
anything else                      -> str(value)
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

EXCEL_CELL_LIMIT = 32_767
EXCEL_ERRORS = frozenset(
    {
        "#N/A",
        "#VALUE!",
        "#REF!",
        "#DIV/0!",
        "#NUM!",
        "#NAME?",
        "#NULL!",
        "#SPILL!",
        "#CALC!",
        "#GETTING_DATA",
        "#BUSY!",
    }
)


@dataclass(frozen=True, slots=True)
class CellInput:
    """A converted cell: `text` to send, or `error` for a cell that must not be sent; both None
    for a blank cell."""

    text: str | None = None
    error: str | None = None

    @property
    def blank(self) -> bool:
        return self.text is None and self.error is None


BLANK = CellInput()
_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_surrogates(text: str, *, strict: bool = False) -> str | None:
    """`text` with surrogate pairs joined into the characters they encode (pandas and JSON
    decoders can leave them split); an unpaired one becomes U+FFFD, or None when `strict`.

    UTF-8 (SQLite, the HTTP body, the workbook's XML) cannot hold a lone surrogate at all."""
    if not _SURROGATE.search(text):
        return text
    encoded = text.encode("utf-16-le", "surrogatepass")
    try:
        return encoded.decode("utf-16-le")
    except UnicodeDecodeError:
        return None if strict else encoded.decode("utf-16-le", "replace")


def number_text(value: int | float) -> str:
    """Shortest round-trip text of a number, integral floats without ".0"."""
    if isinstance(value, float):
        if math.isinf(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def cell_text(value: object) -> str | None:
    """The text a model sees for `value`, or None for a blank (errors are text too here)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and math.isnan(value):
        return None  # a missing value (pandas, numpy), never a cell Excel can hold
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def convert_cell(value: object) -> CellInput:
    """Apply the conversion rule, including the no-call errors; never raises."""
    try:
        text = cell_text(value)
    except Exception as exc:  # a value whose str() fails must not sink the whole run
        return CellInput(error=f"input could not be read as text: {type(exc).__name__}")
    if text is None:
        return BLANK
    text = repair_surrogates(text, strict=True)
    if text is None:
        return CellInput(error="input is not valid Unicode text (it has an unpaired surrogate)")
    if text.strip() in EXCEL_ERRORS:
        return CellInput(error=f"input is an Excel error: {text.strip()}")
    if len(text) > EXCEL_CELL_LIMIT:
        return CellInput(
            error=f"input is {len(text):,} characters, over Excel's {EXCEL_CELL_LIMIT:,} limit"
        )
    return CellInput(text=text)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four ASCII characters per token, one per other character."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 4 + (len(text) - ascii_chars))
