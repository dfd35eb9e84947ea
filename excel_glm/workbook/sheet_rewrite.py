"""Streaming rewrite of one worksheet's XML: new text cells in, every other byte copied as it was.

Only rows that receive a cell are taken apart; every other row, and everything before and after
<sheetData>, is copied byte for byte. The same pass finds conflicts (a target cell that holds a
value, or any formula) and targets that merged cells would hide (the <mergeCells> after the rows
are scanned as they are copied), so `find_conflicts` and `write_cells` cannot disagree.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

from excel_glm.errors import WorkbookError
from excel_glm.workbook.ranges import MAX_COL, MAX_ROW, cell_address
from excel_glm.workbook.row_cells import (
    R_ATTR,
    RowPiece,
    RowSplitter,
    escape_cell_text,
    letters_of,
    parse_area,
    replace_attr,
)
from excel_glm.workbook.sheetxml import ByteStream, Token, attr_items, main_prefix, parse_attrs

FLUSH_AT = 1 << 20
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
_ARRAY_F = re.compile(rb"<(?:[\w.\-]+:)?f\b([^>]*)>")
_MERGE_CELL = re.compile(rb"<(?:[\w.\-]+:)?mergeCell\s([^>]*)>")
_TAIL_OVERLAP = 4096  # a <mergeCell> split across two chunks is still seen whole
_DROP_ON_REPLACE = {b"t", b"cm", b"vm"}  # value type and value metadata describe the old value


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


@dataclass
class Conflict:
    """A target cell that may not be written, and why."""

    row: int
    col: int
    reason: str  # "formula" or "value"


def _merge_areas(data: bytes) -> list[tuple[int, int, int, int]]:
    """The areas of the <mergeCell ref="..."> elements in `data`."""
    areas = []
    for match in _MERGE_CELL.finditer(data):
        area = parse_area(parse_attrs(match.group(1)).get(b"ref", b""))
        if area is not None:
            areas.append(area)
    return areas


class SheetRewriter:
    """Rewrites one worksheet stream; `targets` maps (row, col) to text ("" leaves it empty).

    With `write=None` it only scans for conflicts, building no output.
    """

    def __init__(
        self,
        targets: Mapping[tuple[int, int], str],
        *,
        overwrite: bool,
        write: Callable[[bytes], object] | None,
    ) -> None:
        self.targets = targets
        self.overwrite = overwrite
        self.write = write
        self.conflicts: list[Conflict] = []
        self._out: list[bytes] = []
        self._size = 0
        self._prefix = b""
        self._to_text: Callable[[str], bytes] = _utf8
        self._col_styles: list[tuple[int, int, bytes]] = []
        self._array_areas: list[tuple[int, int, int, int]] = []
        self._splitter = RowSplitter(b"")
        by_row: dict[int, list[tuple[int, str]]] = {}
        for (row, col), text in targets.items():
            if not (1 <= row <= MAX_ROW and 1 <= col <= MAX_COL):
                raise WorkbookError(f"target cell ({row}, {col}) is outside the sheet's grid")
            by_row.setdefault(row, []).append((col, text))
        self._rows = {row: sorted(cells) for row, cells in by_row.items()}
        self._pending = sorted(self._rows)  # rows still to create or merge, ascending
        self._next = 0

    def run(self, raw: IO[bytes]) -> None:
        """Stream the whole part from `raw` to `write`; conflicts are collected, not raised."""
        stream = ByteStream(raw)
        if self._head(stream):
            self._rows_phase(stream)
        merges: set[tuple[int, int, int, int]] = set()
        carry = b""
        chunk = stream.data[stream.pos :]
        while chunk:
            self._emit(chunk)
            merges.update(_merge_areas(carry + chunk))
            carry = (carry + chunk)[-_TAIL_OVERLAP:]
            chunk = raw.read(FLUSH_AT)
        self._flush()
        for area in self._array_areas:
            for row, col in self._targets_in(area):
                self.conflicts.append(Conflict(row, col, "formula"))
        self._refuse_hidden_by_merges(merges)

    def _targets_in(self, area: tuple[int, int, int, int]) -> list[tuple[int, int]]:
        """The target cells inside `area`, found by bisecting the sorted target rows (a sheet
        may hold thousands of merges or array formulas and a run 100,000 targets)."""
        rows = self._pending[
            bisect_left(self._pending, area[0]) : bisect_right(self._pending, area[2])
        ]
        return [
            (row, col) for row in rows for col, _ in self._rows[row] if area[1] <= col <= area[3]
        ]

    def _refuse_hidden_by_merges(self, merges: set[tuple[int, int, int, int]]) -> None:
        """Excel shows only a merged area's top-left cell: text anywhere else would be invisible."""
        hidden = [
            (row, col, area)
            for area in merges
            for row, col in self._targets_in(area)
            if (row, col) != (area[0], area[1])
        ]
        if hidden:
            hidden.sort()
            shown = ", ".join(
                f"{cell_address(r, c)} (in {cell_address(a[0], a[1])}:{cell_address(a[2], a[3])})"
                for r, c, a in hidden[:5]
            )
            more = f" and {len(hidden) - 5} more" if len(hidden) > 5 else ""
            raise WorkbookError(
                f"target cells inside merged cells, where Excel would hide them: {shown}{more}; "
                "unmerge them or choose another column"
            )

    # -- before <sheetData> ------------------------------------------------------------------

    def _head(self, stream: ByteStream) -> bool:
        """Copy up to and including <sheetData>; True when row elements follow."""
        if stream.fill() and stream.data.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00")):
            raise WorkbookError("UTF-16 worksheet XML is not supported; save it again in Excel")
        root = None
        while (token := stream.token()) is not None:
            raw = stream.data[token.start : token.end]
            if token.kind == "pi" and raw.startswith(b"<?xml"):
                self._choose_encoding(raw)
            elif token.kind in ("start", "empty") and root is None:
                root = token
                self._prefix = main_prefix(token)
                self._splitter = RowSplitter(self._prefix)
            elif token.kind in ("start", "empty"):
                name = token.qname
                if name == self._prefix + b"dimension":
                    raw = self._widened_dimension(token, raw)
                elif name == self._prefix + b"col":
                    self._remember_col_style(token)
                elif name == self._prefix + b"sheetData":
                    stream.advance(token.end)
                    if token.kind == "empty":
                        self._emit(b"<" + name + token.attrs + b">")
                        self._emit_new_rows(MAX_ROW)
                        self._emit(b"</" + name + b">")
                        return False
                    self._emit(raw)
                    return True
            self._emit(raw)
            stream.advance(token.end)
        raise WorkbookError("the worksheet XML has no <sheetData>; it is not a valid worksheet")

    def _choose_encoding(self, declaration: bytes) -> None:
        match = _ENCODING.search(declaration)
        name = match.group(1).decode().lower().replace("_", "-") if match else "utf-8"
        if name not in ("utf-8", "utf8"):
            # Any other ASCII-compatible encoding: write pure ASCII with character references.
            self._to_text = lambda s: s.encode("ascii", "xmlcharrefreplace")

    def _widened_dimension(self, token: Token, raw: bytes) -> bytes:
        area = parse_area(parse_attrs(token.attrs).get(b"ref", b""))
        if area is None or not self.targets:
            return raw
        rows = [r for r, _ in self.targets]
        cols = [c for _, c in self.targets]
        new = (
            min(area[0], *rows),
            min(area[1], *cols),
            max(area[2], *rows),
            max(area[3], *cols),
        )
        if new == area:
            return raw
        ref = f"{cell_address(new[0], new[1])}:{cell_address(new[2], new[3])}".encode()
        closer = b"/>" if token.kind == "empty" else b">"
        return b"<" + token.qname + replace_attr(token.attrs, b"ref", ref) + closer

    def _remember_col_style(self, token: Token) -> None:
        attrs = parse_attrs(token.attrs)
        style = attrs.get(b"style")
        try:
            if style and style != b"0":
                self._col_styles.append((int(attrs[b"min"]), int(attrs[b"max"]), style))
        except (KeyError, ValueError):
            pass  # a malformed <col> gives no style; the cell is still written

    # -- the rows ------------------------------------------------------------------------------

    def _rows_phase(self, stream: ByteStream) -> None:
        sheet_data_end = b"</" + self._prefix + b"sheetData"
        row_name = self._prefix + b"row"
        previous = 0
        while (token := stream.token()) is not None:
            if token.kind in ("start", "empty") and token.qname == row_name:
                end = stream.element_end(token)
                element = stream.data[token.start : end]
                number = self._row_number(token, previous)
                self._emit_new_rows(number - 1)
                if b"ref=" in element:
                    self._remember_array_areas(element)
                if self._next < len(self._pending) and self._pending[self._next] == number:
                    self._next += 1
                    element = self._merge_row(token, element, number)
                self._emit(element)
                previous = number
                stream.advance(end)
                continue
            raw = stream.data[token.start : token.end]
            if token.kind == "end" and raw.startswith(sheet_data_end):
                self._emit_new_rows(MAX_ROW)
                self._emit(raw)
                stream.advance(token.end)
                return
            self._emit(raw)
            stream.advance(token.end)
        raise WorkbookError("the worksheet XML ends inside <sheetData>")

    def _row_number(self, token: Token, previous: int) -> int:
        match = R_ATTR.search(token.attrs)
        value = match.group(1) if match else None
        try:
            number = int(value) if value is not None else previous + 1
        except ValueError:
            raise WorkbookError(f"the worksheet has a row numbered {value!r}") from None
        if not previous < number <= MAX_ROW:
            raise WorkbookError(f"the worksheet's rows are out of order (row {number})")
        return number

    def _remember_array_areas(self, element: bytes) -> None:
        for match in _ARRAY_F.finditer(element):
            attrs = parse_attrs(match.group(1))
            if attrs.get(b"t") in (b"array", b"dataTable") and b"ref" in attrs:
                area = parse_area(attrs[b"ref"])
                if area is not None:
                    self._array_areas.append(area)

    def _emit_new_rows(self, up_to: int) -> None:
        """Create the rows that have targets but do not exist yet, up to row `up_to`."""
        while self._next < len(self._pending) and self._pending[self._next] <= up_to:
            number = self._pending[self._next]
            self._next += 1
            if self.write is None:
                continue
            cells = b"".join(
                self._new_cell(number, col, text, None) for col, text in self._rows[number]
            )
            name = self._prefix + b"row"
            self._emit(b'<%s r="%d">%s</%s>' % (name, number, cells, name))

    def _merge_row(self, token: Token, element: bytes, number: int) -> bytes:
        """The row with its target cells replaced or inserted in column order."""
        targets = self._rows[number]
        row_attrs = parse_attrs(token.attrs)
        row_style = None
        if row_attrs.get(b"customFormat") in (b"1", b"true") and row_attrs.get(b"s"):
            row_style = row_attrs[b"s"]
        if token.kind == "empty":
            inner = b""
        else:
            inner = element[token.end - token.start : element.rindex(b"</")]
        wanted_cols = {col for col, _ in targets}
        pieces = self._splitter.split(inner, number, wanted_cols)
        if self.write is None:  # scanning for conflicts only
            for piece in pieces:
                if piece.col in wanted_cols:
                    self._replaced_cell(number, piece, "")
            return element
        out: list[bytes] = []
        wanted = list(targets)
        last_cell = max((i for i, p in enumerate(pieces) if p.col is not None), default=-1)
        for index, piece in enumerate(pieces):
            col, raw = piece.col, piece.raw
            while col is not None and wanted and wanted[0][0] < col:
                out.append(self._new_cell(number, *wanted.pop(0), row_style))
            if col is not None and wanted and wanted[0][0] == col:
                raw = self._replaced_cell(number, piece, wanted.pop(0)[1])
            out.append(raw)
            if index == last_cell:
                out.extend(self._new_cell(number, *w, row_style) for w in wanted)
                wanted = []
        if wanted:  # a row without cells
            out[:0] = [self._new_cell(number, *w, row_style) for w in wanted]
        start_attrs = self._widened_spans(token.attrs, [c for c, _ in targets])
        name = token.qname
        return b"<" + name + start_attrs + b">" + b"".join(out) + b"</" + name + b">"

    def _replaced_cell(self, number: int, piece: RowPiece, text: str) -> bytes:
        """An existing cell with new text, keeping its style; or a conflict, left as it was."""
        assert piece.col is not None
        if piece.is_formula:
            self.conflicts.append(Conflict(number, piece.col, "formula"))
            return piece.raw
        if piece.has_value and not self.overwrite:
            self.conflicts.append(Conflict(number, piece.col, "value"))
            return piece.raw
        kept = b"".join(
            b" %s=%s" % item for item in attr_items(piece.attrs) if item[0] not in _DROP_ON_REPLACE
        )
        return self._cell_xml(self._prefix + b"c", kept, text)

    def _new_cell(self, number: int, col: int, text: str, row_style: bytes | None) -> bytes:
        style = row_style or self._col_style(col)
        attrs = b' r="%s%d"' % (letters_of(col), number)
        if style:
            attrs += b' s="%s"' % style
        return self._cell_xml(self._prefix + b"c", attrs, text)

    def _cell_xml(self, name: bytes, attrs: bytes, text: str) -> bytes:
        if text == "":
            return b"<" + name + attrs + b"/>"
        p = self._prefix
        body = self._to_text(escape_cell_text(text))
        return b'<%s%s t="inlineStr"><%sis><%st xml:space="preserve">%s</%st></%sis></%s>' % (
            name,
            attrs,
            p,
            p,
            body,
            p,
            p,
            name,
        )

    def _col_style(self, col: int) -> bytes | None:
        for low, high, style in self._col_styles:
            if low <= col <= high:
                return style
        return None

    def _widened_spans(self, attrs: bytes, cols: list[int]) -> bytes:
        spans = parse_attrs(attrs).get(b"spans")
        if not spans:
            return attrs
        try:
            ranges = [tuple(int(x) for x in part.split(b":")) for part in spans.split()]
        except ValueError:
            return attrs
        if all(any(r[0] <= c <= r[-1] for r in ranges) for c in cols):
            return attrs
        low = min(min(r[0] for r in ranges), *cols)
        high = max(max(r[-1] for r in ranges), *cols)
        return replace_attr(attrs, b"spans", b"%d:%d" % (low, high))

    # -- output --------------------------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        if data and self.write is not None:
            self._out.append(data)
            self._size += len(data)
            if self._size >= FLUSH_AT:
                self._flush()

    def _flush(self) -> None:
        if self._out and self.write is not None:
            self.write(b"".join(self._out))
            self._out.clear()
            self._size = 0
