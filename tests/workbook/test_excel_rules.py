"""Targets Excel would hide or "repair": inside merged cells, in a table's header row."""

from __future__ import annotations

import pytest

from excel_glm.errors import WorkbookError
from excel_glm.workbook import sheet_rewrite, sheetxml
from excel_glm.workbook.ranges import parse_range
from excel_glm.workbook.read import read_range
from excel_glm.workbook.write import find_conflicts, write_cells

from .books import MAIN_NS, REL_NS, sheet_xml

ROWS = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>merged title</t></is></c></row>'
    '<row r="2"><c r="A2"><v>1</v></c></row>'
)
MERGES = '<mergeCells count="2"><mergeCell ref="A1:C1"/><mergeCell ref="E2:F4"/></mergeCells>'


@pytest.fixture
def merged(make_book):
    return make_book({"Data": sheet_xml(ROWS, tail=MERGES)})


@pytest.mark.parametrize("hidden", [(1, 2), (1, 3), (3, 5), (4, 6)])
def test_a_target_hidden_inside_merged_cells_is_refused(hidden, merged, tmp_path):
    out = tmp_path / "out.xlsx"
    with pytest.raises(WorkbookError, match="inside merged cells") as caught:
        write_cells(merged, out, "Data", {hidden: "lost", (5, 1): "fine"})
    assert "\n" not in str(caught.value)
    with pytest.raises(WorkbookError, match="inside merged cells"):
        find_conflicts(merged, "Data", [hidden], overwrite=True)
    assert not out.exists()


def test_the_visible_top_left_cell_of_a_merge_takes_an_answer(merged, tmp_path):
    out = tmp_path / "out.xlsx"
    assert find_conflicts(merged, "Data", [(2, 5), (2, 4)], overwrite=False) == []
    write_cells(merged, out, "Data", {(2, 5): "shown", (2, 4): "beside"})
    assert [c.value for c in read_range(out, parse_range("Data!D2:E2")).cells] == [
        "beside",
        "shown",
    ]


def test_merges_are_seen_across_read_chunk_boundaries(merged, tmp_path, monkeypatch):
    monkeypatch.setattr(sheetxml, "CHUNK", 5)
    monkeypatch.setattr(sheet_rewrite, "FLUSH_AT", 7)
    with pytest.raises(WorkbookError, match=r"F3 \(in E2:F4\)"):
        write_cells(merged, tmp_path / "out.xlsx", "Data", {(3, 6): "lost"})


TABLE = (
    f'<?xml version="1.0" encoding="UTF-8"?><table xmlns="{MAIN_NS}" id="1" name="Sales" '
    'displayName="Sales" ref="B2:C4"><autoFilter ref="B2:C4"/><tableColumns count="2">'
    '<tableColumn id="1" name="Item"/><tableColumn id="2" name="Qty"/></tableColumns></table>'
)
SHEET_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    f'org/package/2006/relationships"><Relationship Id="rId1" Type="{REL_NS}/table" '
    'Target="../tables/table1.xml"/></Relationships>'
)
TABLE_ROWS = (
    '<row r="2"><c r="B2" t="inlineStr"><is><t>Item</t></is></c>'
    '<c r="C2" t="inlineStr"><is><t>Qty</t></is></c></row>'
    '<row r="3"><c r="B3" t="inlineStr"><is><t>pen</t></is></c><c r="C3"><v>2</v></c></row>'
)


@pytest.fixture
def with_table(make_book):
    extra = {
        "xl/tables/table1.xml": TABLE.encode(),
        "xl/worksheets/_rels/sheet1.xml.rels": SHEET_RELS.encode(),
    }
    sheet = sheet_xml(
        TABLE_ROWS, tail='<tableParts count="1"><tablePart r:id="rId1"/></tableParts>'
    )
    return make_book({"Data": sheet}, extra=extra)


def test_a_table_header_cell_is_never_written_even_with_overwrite(with_table, tmp_path):
    out = tmp_path / "out.xlsx"
    with pytest.raises(WorkbookError, match="C2 is in the header row of table 'Sales'"):
        write_cells(with_table, out, "Data", {(2, 3): "Quantity"}, overwrite=True)
    with pytest.raises(WorkbookError, match="header row of table 'Sales'"):
        find_conflicts(with_table, "Data", [(3, 3), (2, 3)], overwrite=True)
    assert not out.exists()


def test_table_body_cells_and_cells_beside_the_header_take_answers(with_table, tmp_path):
    out = tmp_path / "out.xlsx"
    write_cells(with_table, out, "Data", {(4, 3): "in the body", (2, 4): "beside"})
    assert [c.value for c in read_range(out, parse_range("Data!C4:D4")).cells] == [
        "in the body",
        None,
    ]
    assert read_range(out, parse_range("Data!D2")).cells[0].value == "beside"


def test_a_table_without_a_header_row_takes_answers_in_its_first_row(make_book, tmp_path):
    headless = TABLE.replace('ref="B2:C4"', 'ref="B2:C4" headerRowCount="0"', 1)
    extra = {
        "xl/tables/table1.xml": headless.encode(),
        "xl/worksheets/_rels/sheet1.xml.rels": SHEET_RELS.encode(),
    }
    path = make_book({"Data": sheet_xml(TABLE_ROWS)}, extra=extra)
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Data", {(2, 3): "first row"}, overwrite=True)
    assert read_range(out, parse_range("Data!C2")).cells[0].value == "first row"


PIVOT = (
    f'<?xml version="1.0" encoding="UTF-8"?><pivotTableDefinition xmlns="{MAIN_NS}" '
    'name="Totals" cacheId="1" dataCaption="Values"><location ref="E3:F6" firstHeaderRow="1" '
    'firstDataRow="1" firstDataCol="1"/></pivotTableDefinition>'
)
PIVOT_RELS = SHEET_RELS.replace(f"{REL_NS}/table", f"{REL_NS}/pivotTable").replace(
    "../tables/table1.xml", "../pivotTables/pivotTable1.xml"
)


def test_a_pivot_table_area_is_never_written(make_book, tmp_path):
    extra = {
        "xl/pivotTables/pivotTable1.xml": PIVOT.encode(),
        "xl/worksheets/_rels/sheet1.xml.rels": PIVOT_RELS.encode(),
    }
    path = make_book({"Data": sheet_xml(TABLE_ROWS)}, extra=extra)
    out = tmp_path / "out.xlsx"
    with pytest.raises(WorkbookError, match="F5 is in pivot table 'Totals' \\(E3:F6\\)"):
        write_cells(path, out, "Data", {(5, 6): "x", (7, 6): "below"})
    assert not out.exists()
    write_cells(path, out, "Data", {(7, 6): "below", (3, 7): "beside"})
    assert read_range(out, parse_range("Data!F7")).cells[0].value == "below"
