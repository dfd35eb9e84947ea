"""Reading range values: types, empties, formulas' cached values, whole columns."""

from __future__ import annotations

import datetime as dt

from excel_glm.workbook.ranges import parse_range
from excel_glm.workbook.read import CellRef, read_range

from .books import sheet_xml

TYPED_ROWS = (
    '<row r="1">'
    '<c r="A1" t="s"><v>0</v></c>'  # shared string
    '<c r="B1" t="inlineStr"><is><t>inline</t></is></c>'
    '<c r="C1" t="inlineStr"><is><r><rPr><b/></rPr><t>rich </t></r><r><t>text</t></r></is></c>'
    '<c r="D1" t="b"><v>1</v></c>'
    '<c r="E1" t="e"><v>#N/A</v></c>'
    '<c r="F1"><v>2.5</v></c>'
    '<c r="G1" s="2"><v>45292</v></c>'  # style 2 is yyyy-mm-dd
    '<c r="H1"><f>F1*2</f><v>5</v></c>'
    '<c r="I1" t="str"><f>B1&amp;"!"</f><v>inline!</v></c>'
    '<c r="J1" t="inlineStr"><is><t>line_x000D_\nbreak</t></is></c>'
    "</row>"
)


def test_every_cell_type_reads_as_its_python_value(make_book):
    path = make_book({"Sheet1": sheet_xml(TYPED_ROWS)}, shared=["shared"])
    values = [c.value for c in read_range(path, parse_range("A1:J1")).cells]
    assert values == [
        "shared",
        "inline",
        "rich text",
        True,
        "#N/A",
        2.5,
        dt.datetime(2024, 1, 1),
        5,
        "inline!",
        "line\r\nbreak",
    ]


def test_empty_and_missing_cells_are_none_in_row_major_order(make_book):
    rows = (
        '<row r="2"><c r="B2" t="inlineStr"><is><t>b2</t></is></c><c r="C2" s="1"/></row>'
        '<row r="4"><c r="C4" t="inlineStr"><is><t></t></is></c>'
        '<c r="B4" t="inlineStr"><is><t>b4</t></is></c></row>'
    )
    path = make_book({"Sheet1": sheet_xml(rows)})
    result = read_range(path, parse_range("Sheet1!B2:C5"))
    assert result.sheet == "Sheet1"
    assert result.part == "xl/worksheets/sheet1.xml"
    assert [(c.row, c.col) for c in result.cells] == [(r, c) for r in range(2, 6) for c in (2, 3)]
    assert [c.value for c in result.cells] == ["b2", None, None, None, "b4", None, None, None]


def test_whole_column_stops_after_its_last_value(make_book):
    rows = (
        "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in (1, 2, 3, 7))
        + '<row r="9" s="1" customFormat="1"/>'
    )
    path = make_book({"Sheet1": sheet_xml(rows)})
    cells = read_range(path, parse_range("A:A")).cells
    assert [c.row for c in cells] == [1, 2, 3, 4, 5, 6, 7]
    assert [c.value for c in cells] == [1, 2, 3, None, None, None, 7]


def test_whole_column_ignores_a_wrong_dimension(make_book):
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 6))
    xml = sheet_xml(rows, head='<dimension ref="A1"/>')
    path = make_book({"Sheet1": xml})
    assert [c.value for c in read_range(path, parse_range("A:A")).cells] == [1, 2, 3, 4, 5]


def test_rows_and_cells_without_r_attributes_are_placed_by_position(make_book):
    rows = (
        '<row><c t="inlineStr"><is><t>a1</t></is></c><c t="inlineStr"><is><t>b1</t></is></c></row>'
        '<row><c r="B2" t="inlineStr"><is><t>b2</t></is></c></row>'
    )
    path = make_book({"Sheet1": sheet_xml(rows)})
    assert read_range(path, parse_range("A1:B2")).cells == [
        CellRef(1, 1, "a1"),
        CellRef(1, 2, "b1"),
        CellRef(2, 1, None),
        CellRef(2, 2, "b2"),
    ]


def test_no_sheet_name_means_the_first_worksheet(make_book):
    one = sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>')
    two = sheet_xml('<row r="1"><c r="A1"><v>2</v></c></row>')
    path = make_book({"First": one, "Second": two})
    assert read_range(path, parse_range("A1")).cells == [CellRef(1, 1, 1)]
    assert read_range(path, parse_range("Second!A1")).sheet == "Second"


def test_no_sheet_name_means_the_sheet_active_when_saved(make_book):
    one = sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>')
    two = sheet_xml('<row r="1"><c r="A1"><v>2</v></c></row>')
    path = make_book({"First": one, "Second": two}, active=1)
    result = read_range(path, parse_range("A1"))
    assert (result.sheet, result.cells) == ("Second", [CellRef(1, 1, 2)])


def test_a_prefixed_namespace_sheet_reads(make_book):
    rows = '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>hi</x:t></x:is></x:c></x:row>'
    path = make_book({"Sheet1": sheet_xml(rows, prefix="x")})
    assert read_range(path, parse_range("A1")).cells == [CellRef(1, 1, "hi")]
