"""The worksheet rewrite streams: its memory does not grow with the sheet."""

from __future__ import annotations

import io
import tracemalloc

from excel_glm.workbook import sheet_rewrite, sheetxml
from excel_glm.workbook.sheet_rewrite import SheetRewriter

ROW = b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>review text number %d</t></is></c></row>'


def test_peak_memory_stays_near_the_chunk_size_not_the_sheet_size(monkeypatch):
    monkeypatch.setattr(sheetxml, "CHUNK", 16 << 10)
    monkeypatch.setattr(sheet_rewrite, "FLUSH_AT", 16 << 10)
    rows = 20_000
    xml = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main"><sheetData>'
        + b"".join(ROW % (r, r, r) for r in range(1, rows + 1))
        + b"</sheetData></worksheet>"
    )
    targets = {(r, 2): f"answer {r}" for r in range(1, rows + 1, 500)}
    written = []
    rewriter = SheetRewriter(targets, overwrite=False, write=lambda b: written.append(len(b)))
    source = io.BytesIO(xml)

    tracemalloc.start()
    try:
        rewriter.run(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert len(xml) > 1_500_000
    assert peak < len(xml) / 10, f"peak {peak:,} bytes for a {len(xml):,}-byte sheet"
    assert sum(written) > len(xml)  # everything came out, plus the new cells
    assert max(written) < 100 << 10  # and it came out in pieces
