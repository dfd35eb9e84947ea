"""Taking one worksheet row apart into its cells, and the small XML helpers a rewrite needs."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from excel_glm.errors import WorkbookError
from excel_glm.workbook.ranges import column_index, column_letter
from excel_glm.workbook.sheetxml import iter_tokens, parse_attrs

_REF = re.compile(rb"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
R_ATTR = re.compile(rb"""\sr\s*=\s*["']([^"']*)["']""")
# XML 1.0 forbids these; Excel writes them (and "\r", which parsers would fold) as _xHHHH_.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NEEDS_ESCAPE = re.compile("[&<>_\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")
_LITERAL_ESCAPE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_CDATA_OVERHEAD = len(b"<![CDATA[]]>")


class RowPiece(NamedTuple):
    """A stretch of a row's content: a cell (col set) or anything between cells (col None).

    `is_formula`, `has_value` and `attrs` are only worked out for the columns asked for.
    """

    col: int | None
    raw: bytes
    is_formula: bool = False
    has_value: bool = False
    attrs: bytes = b""


def escape_cell_text(text: str) -> str:
    """Text as SpreadsheetML element content: XML-escaped, forbidden characters as _xHHHH_."""
    if not _NEEDS_ESCAPE.search(text):
        return text
    text = _LITERAL_ESCAPE.sub(r"_x005F_\1", text)
    text = _NOT_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@functools.lru_cache(maxsize=4096)
def _column_of(letters: bytes) -> int:
    return column_index(letters.decode())


@functools.lru_cache(maxsize=4096)
def letters_of(col: int) -> bytes:
    """3 -> b"C", cached: every new cell needs it."""
    return column_letter(col).encode()


def parse_ref(ref: bytes) -> tuple[int, int] | None:
    """b"C5" -> (5, 3), or None when it is not a cell reference."""
    match = _REF.match(ref)
    if not match:
        return None
    return int(match.group(2)), _column_of(match.group(1))


def parse_area(ref: bytes) -> tuple[int, int, int, int] | None:
    """b"A1:C9" or b"B4" -> (min_row, min_col, max_row, max_col)."""
    first, _, last = ref.strip().partition(b":")
    a, b = parse_ref(first), parse_ref(last or first)
    if a is None or b is None:
        return None
    return min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])


def replace_attr(attrs: bytes, name: bytes, value: bytes) -> bytes:
    """`attrs` with one attribute's value replaced, the rest left exactly as written."""
    pattern = re.compile(rb"(\s" + re.escape(name) + rb"\s*=\s*)(\"[^\"]*\"|'[^']*')")
    return pattern.sub(lambda m: m.group(1) + b'"' + value + b'"', attrs, count=1)


class RowSplitter:
    """Splits row content into RowPieces for one namespace prefix (b"" or b"x:")."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        p = re.escape(prefix)
        attrs = rb"((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)"
        self._cell = re.compile(
            rb"<" + p + rb"c\b" + attrs + rb"(?:/>|>(.*?)</" + p + rb"c\s*>)", re.S
        )
        self._formula = re.compile(rb"<" + p + rb"f[\s/>]")
        self._value = re.compile(rb"<" + p + rb"[vt](?:\s[^>]*)?>[^<]")

    def split(self, inner: bytes, number: int, wanted: set[int]) -> list[RowPiece]:
        """The pieces of row `number`'s content, in document order."""
        if b"<!" not in inner:
            return self._split_plain(inner, number, wanted)
        return self._split_by_tokens(inner, number)

    def _split_plain(self, inner: bytes, number: int, wanted: set[int]) -> list[RowPiece]:
        """The fast path for rows without comments or CDATA, where no fake </c> can hide."""
        pieces: list[RowPiece] = []
        pos = col = 0
        for match in self._cell.finditer(inner):
            if match.start() > pos:
                pieces.append(RowPiece(None, inner[pos : match.start()]))
            attrs, content = match.group(1), match.group(2) or b""
            ref = R_ATTR.search(attrs)
            col = _next_column(ref.group(1) if ref else None, number, col)
            if col in wanted:
                is_formula = self._formula.search(content) is not None
                has_value = self._value.search(content) is not None
                pieces.append(RowPiece(col, match.group(0), is_formula, has_value, attrs))
            else:
                pieces.append(RowPiece(col, match.group(0)))
            pos = match.end()
        if pos < len(inner):
            pieces.append(RowPiece(None, inner[pos:]))
        return pieces

    def _split_by_tokens(self, inner: bytes, number: int) -> list[RowPiece]:
        """The careful path: a full token walk, for rows holding comments or CDATA."""
        p = self.prefix
        cell_name, f_name, value_names = p + b"c", p + b"f", (p + b"v", p + b"t")
        pieces: list[RowPiece] = []
        col = depth = start = in_value = 0
        attrs = b""
        is_formula = has_value = False
        for token in iter_tokens(inner):
            if depth == 0:
                if token.kind in ("start", "empty") and token.qname == cell_name:
                    col = _next_column(parse_attrs(token.attrs).get(b"r"), number, col)
                    attrs, start, is_formula, has_value = token.attrs, token.start, False, False
                    if token.kind == "empty":
                        pieces.append(RowPiece(col, inner[token.start : token.end], attrs=attrs))
                    else:
                        depth = 1
                else:
                    pieces.append(RowPiece(None, inner[token.start : token.end]))
            elif token.kind == "start":
                depth += 1
                in_value += token.qname in value_names
                is_formula |= token.qname == f_name
            elif token.kind == "empty":
                is_formula |= token.qname == f_name
            elif token.kind == "end":
                depth -= 1
                if token.qname in value_names and in_value:
                    in_value -= 1
                if depth == 0:
                    raw = inner[start : token.end]
                    pieces.append(RowPiece(col, raw, is_formula, has_value, attrs))
            elif in_value and token.kind == "text" and token.end > token.start:
                has_value = True
            elif in_value and token.kind == "cdata":
                has_value |= token.end - token.start > _CDATA_OVERHEAD
        if depth:
            raise WorkbookError(f"row {number} of the worksheet is malformed")
        return pieces


def _next_column(ref: bytes | None, number: int, previous: int) -> int:
    """The column of a cell from its r attribute (or the one after `previous` without it)."""
    parsed = parse_ref(ref) if ref is not None else (number, previous + 1)
    if parsed is None or parsed[1] <= previous:
        raise WorkbookError(f"row {number} has a cell out of order ({ref!r})")
    return parsed[1]
