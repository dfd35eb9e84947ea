"""Zero-loss write-back: what changes in the worksheet XML, what never does."""

from __future__ import annotations

import hashlib
import os
import re
import zipfile

import openpyxl
import pytest
from lxml import etree

from excel_glm.errors import WorkbookError
from excel_glm.workbook import sheetxml
from excel_glm.workbook import write as write_module
from excel_glm.workbook.write import find_conflicts, write_cells

from .books import MAIN_NS, sheet_xml

NS = {"m": MAIN_NS}
SHEET = "xl/worksheets/sheet1.xml"
ROWS = (
    '<row r="1" spans="1:2"><c r="A1" t="s"><v>0</v></c><c r="B1" s="1"/></row>'
    '<row r="3" spans="1:2" x14ac:dyDescent="0.25"><c r="A3" t="inlineStr"><is><t>three</t></is>'
    '</c><c r="C3" t="str"><f>A1&amp;"x"</f><v>headerx</v></c></row>'
    '<row r="5"/>'
)
X14AC = ' xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"'


def book_xml(rows: str = ROWS, **kwargs) -> str:
    return sheet_xml(rows, **kwargs).replace(" xmlns:r=", X14AC + " xmlns:r=", 1)


def sheet_bytes(path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(SHEET)


def cells_of(path) -> dict[str, etree._Element]:
    root = etree.fromstring(sheet_bytes(path))
    return {c.get("r"): c for c in root.iter(f"{{{MAIN_NS}}}c")}


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def book(make_book):
    return make_book({"Sheet1": book_xml()}, shared=["header"])


def test_formula_looking_answers_are_written_as_text(book, tmp_path):
    answers = ["=1+1", "+SUM(A1:A3)", "-2", "@cmd", '=HYPERLINK("http://x")']
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(10 + i, 2): a for i, a in enumerate(answers)})
    assert b"<f>" not in sheet_bytes(out).split(b'<row r="10"')[1]
    sheet = openpyxl.load_workbook(out)["Sheet1"]
    for i, answer in enumerate(answers):
        cell = sheet.cell(10 + i, 2)
        assert (cell.value, cell.data_type) == (answer, "s")


def test_markup_and_unicode_are_escaped_not_interpreted(book, tmp_path):
    text = "a <b>&amp; \"q\" 's' ]]> 日本語 😀 \t tab\nline  "
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(2, 2): text})
    cell = cells_of(out)["B2"]
    assert cell.get("t") == "inlineStr"
    assert cell.findtext("m:is/m:t", namespaces=NS) == text
    assert openpyxl.load_workbook(out)["Sheet1"]["B2"].value == text


def test_characters_xml_forbids_use_excels_escape_and_round_trip(book, tmp_path):
    text = "bell\x07 cr\r nul\x00 literal _x0041_ end"
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(2, 2): text})
    stored = cells_of(out)["B2"].findtext("m:is/m:t", namespaces=NS)
    assert stored == "bell_x0007_ cr_x000D_ nul_x0000_ literal _x005F_x0041_ end"
    from excel_glm.workbook.ranges import parse_range
    from excel_glm.workbook.read import read_range

    assert read_range(out, parse_range("B2")).cells[0].value == text


def test_an_existing_empty_cell_keeps_its_style(book, tmp_path):
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(1, 2): "bold answer"})
    assert cells_of(out)["B1"].get("s") == "1"
    assert openpyxl.load_workbook(out)["Sheet1"]["B1"].font.b is True


def test_new_cells_take_the_row_or_column_style_as_excel_would(make_book, tmp_path):
    head = '<cols><col min="4" max="6" width="12" style="2" customWidth="1"/></cols>'
    rows = '<row r="2" s="1" customFormat="1"><c r="A2"><v>1</v></c></row>'
    path = make_book({"Sheet1": book_xml(rows, head=head)})
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Sheet1", {(2, 2): "row styled", (4, 5): "column styled", (4, 8): "x"})
    cells = cells_of(out)
    assert (cells["B2"].get("s"), cells["E4"].get("s"), cells["H4"].get("s")) == ("1", "2", None)


def test_cells_and_rows_are_placed_in_order_and_nothing_else_moves(book, tmp_path):
    out = tmp_path / "out.xlsx"
    targets = {(1, 4): "D1", (2, 2): "B2", (3, 2): "B3", (5, 1): "A5", (7, 3): "C7", (4, 26): "Z4"}
    write_cells(book, out, "Sheet1", targets)
    root = etree.fromstring(sheet_bytes(out))
    rows = root.findall("m:sheetData/m:row", NS)
    assert [r.get("r") for r in rows] == ["1", "2", "3", "4", "5", "7"]
    layout = [[c.get("r") for c in r.findall("m:c", NS)] for r in rows]
    assert layout == [["A1", "B1", "D1"], ["B2"], ["A3", "B3", "C3"], ["Z4"], ["A5"], ["C7"]]
    # the untouched row keeps its own attributes; spans widen to cover the new column
    assert rows[2].get("{http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac}dyDescent")
    assert rows[0].get("spans") == "1:4"
    assert rows[2].get("spans") == "1:2"
    assert root.find("m:sheetData/m:row/m:c[@r='C3']/m:f", NS).text == 'A1&"x"'
    sheet = openpyxl.load_workbook(out)["Sheet1"]
    assert all(sheet.cell(r, c).value == v for (r, c), v in targets.items())


def test_untouched_rows_are_copied_byte_for_byte(book, tmp_path):
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(5, 2): "x"})
    before, after = book_xml().encode(), sheet_bytes(out)
    first_rows = before[before.index(b'<row r="1"') : before.index(b'<row r="5"')]
    assert first_rows in after
    assert after.startswith(before[: before.index(b"<sheetData>")])
    assert after.endswith(b"</sheetData></worksheet>")


def test_the_dimension_grows_to_cover_new_cells(make_book, tmp_path):
    path = make_book({"Sheet1": book_xml(head='<dimension ref="A1:C5"/>')}, shared=["h"])
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Sheet1", {(9, 5): "x"})
    assert b'<dimension ref="A1:E9"/>' in sheet_bytes(out)
    write_cells(path, out, "Sheet1", {(2, 2): "inside"})
    assert b'<dimension ref="A1:C5"/>' in sheet_bytes(out)


@pytest.mark.parametrize(
    "rows",
    ["", '<row r="1"/>', '<row r="2" spans="1:1"></row>', '<!-- c --><row r="4"/>'],
    ids=["empty-sheetData", "self-closing-row", "empty-row", "comment"],
)
def test_sparse_and_empty_sheets_take_new_cells(make_book, tmp_path, rows):
    path = make_book({"Sheet1": sheet_xml(rows)})
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Sheet1", {(1, 1): "one", (2, 1): "two", (3, 3): "three"})
    sheet = openpyxl.load_workbook(out)["Sheet1"]
    assert [sheet["A1"].value, sheet["A2"].value, sheet["C3"].value] == ["one", "two", "three"]


def test_a_prefixed_namespace_is_kept_for_new_elements(make_book, tmp_path):
    rows = '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c></x:row>'
    path = make_book({"Sheet1": sheet_xml(rows, prefix="x")})
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Sheet1", {(1, 2): "b", (3, 1): "c"})
    xml = sheet_bytes(out)
    assert b"<c " not in xml and b'<x:c r="B1" t="inlineStr"><x:is><x:t' in xml
    sheet = openpyxl.load_workbook(out)["Sheet1"]
    assert (sheet["B1"].value, sheet["A3"].value) == ("b", "c")


def test_a_fake_closing_tag_inside_cdata_does_not_end_the_row(make_book, tmp_path):
    rows = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t><![CDATA[</row><row r="9">]]></t></is></c></row>'
    )
    path = make_book({"Sheet1": sheet_xml(rows)})
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Sheet1", {(1, 2): "b", (2, 1): "a2"})
    sheet = openpyxl.load_workbook(out)["Sheet1"]
    assert [sheet["A1"].value, sheet["B1"].value, sheet["A2"].value] == [
        '</row><row r="9">',
        "b",
        "a2",
    ]


def test_tiny_read_chunks_give_the_same_output(book, tmp_path, monkeypatch):
    targets = {(r, 2): f"answer {r}" for r in range(1, 8)}
    write_cells(book, tmp_path / "big.xlsx", "Sheet1", targets)
    monkeypatch.setattr(sheetxml, "CHUNK", 7)
    write_cells(book, tmp_path / "tiny.xlsx", "Sheet1", targets)
    assert sheet_bytes(tmp_path / "tiny.xlsx") == sheet_bytes(tmp_path / "big.xlsx")


def test_a_non_utf8_sheet_gets_ascii_with_character_references(make_book, tmp_path):
    xml = book_xml().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    path = make_book({"Sheet1": xml}, shared=["h"])
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Sheet1", {(2, 2): "café 日本"})
    assert b"caf&#233; &#26085;&#26412;" in sheet_bytes(out)
    assert cells_of(out)["B2"].findtext("m:is/m:t", namespaces=NS) == "café 日本"


def test_a_non_empty_target_is_refused_unless_overwrite(book, tmp_path):
    out = tmp_path / "out.xlsx"
    assert find_conflicts(book, "Sheet1", [(3, 1), (1, 1), (2, 1)], overwrite=False) == [
        "A1",
        "A3",
    ]
    with pytest.raises(WorkbookError, match="A1, A3 are not empty"):
        write_cells(book, out, "Sheet1", {(1, 1): "x", (3, 1): "y", (2, 1): "z"})
    assert not out.exists()
    assert find_conflicts(book, "Sheet1", [(1, 1), (3, 1)], overwrite=True) == []
    write_cells(book, out, "Sheet1", {(1, 1): "x", (3, 1): "y"}, overwrite=True)
    cells = cells_of(out)
    assert (cells["A1"].get("t"), cells["A1"].findtext("m:is/m:t", namespaces=NS)) == (
        "inlineStr",
        "x",
    )
    assert cells["A1"].find("m:v", NS) is None


def test_a_formula_cell_is_never_overwritten(book, tmp_path):
    out = tmp_path / "out.xlsx"
    assert find_conflicts(book, "Sheet1", [(3, 3)], overwrite=True) == ["C3"]
    with pytest.raises(WorkbookError, match="C3 holds a formula"):
        write_cells(book, out, "Sheet1", {(3, 3): "x"}, overwrite=True)
    assert not out.exists()


def test_cells_inside_an_array_formula_count_as_formulas(make_book, tmp_path):
    rows = (
        '<row r="1"><c r="A1"><f t="array" ref="A1:A3">ROW(1:3)</f><v>1</v></c></row>'
        '<row r="2"><c r="A2"><v>2</v></c></row>'
    )
    path = make_book({"Sheet1": sheet_xml(rows)})
    assert find_conflicts(path, "Sheet1", [(2, 1), (3, 1), (4, 1)], overwrite=True) == [
        "A2",
        "A3",
    ]


def test_an_empty_answer_leaves_the_cell_empty_but_styled(book, tmp_path):
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(1, 2): "", (8, 1): ""})
    cells = cells_of(out)
    assert len(cells["B1"]) == 0 and cells["B1"].get("s") == "1"
    assert openpyxl.load_workbook(out)["Sheet1"]["B1"].value is None


def test_excels_cell_length_limit_is_enforced(book, tmp_path):
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(2, 2): "x" * 32_767})
    with pytest.raises(WorkbookError, match="B2 has more than 32,767"):
        write_cells(book, tmp_path / "o2.xlsx", "Sheet1", {(2, 2): "x" * 32_768})
    assert not (tmp_path / "o2.xlsx").exists()
    with pytest.raises(WorkbookError):  # Excel counts UTF-16 units: an emoji takes two
        write_cells(book, tmp_path / "o2.xlsx", "Sheet1", {(2, 2): "😀" * 16_384})


def test_non_text_values_are_a_programming_error(book, tmp_path):
    with pytest.raises(TypeError):
        write_cells(book, tmp_path / "o.xlsx", "Sheet1", {(2, 2): 5})


def test_the_source_is_never_modified(book, tmp_path):
    before = digest(book)
    write_cells(book, tmp_path / "out.xlsx", "Sheet1", {(2, 2): "x"})
    assert digest(book) == before


def test_in_place_replaces_the_source_atomically_and_keeps_its_mode(book, tmp_path):
    os.chmod(book, 0o640)
    report = write_cells(book, book, "Sheet1", {(2, 2): "in place"})
    assert report.written == 1 and report.part == SHEET
    assert openpyxl.load_workbook(book)["Sheet1"]["B2"].value == "in place"
    assert os.stat(book).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx"]


def test_a_failure_mid_write_leaves_dest_untouched_and_no_temp_file(book, tmp_path, monkeypatch):
    dest = tmp_path / "out.xlsx"
    dest.write_bytes(b"previous result")

    def fail_after_some_bytes(self, raw):
        self.write(raw.read(100))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(write_module.SheetRewriter, "run", fail_after_some_bytes)
    with pytest.raises(WorkbookError, match="No space left"):
        write_cells(book, dest, "Sheet1", {(2, 2): "x"})
    assert dest.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx", "out.xlsx"]


def test_members_keep_their_names_order_and_compression(make_book, tmp_path):
    path = make_book({"Sheet1": book_xml()}, extra={"xl/media/image1.png": b"\x89PNG" * 50})
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Sheet1", {(2, 2): "x"})
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(out) as b:
        assert [(i.filename, i.compress_type) for i in a.infolist()] == [
            (i.filename, i.compress_type) for i in b.infolist()
        ]
        changed = [n for n in a.namelist() if a.read(n) != b.read(n)]
        assert changed == [SHEET]


def test_the_written_sheet_is_well_formed_xml(book, tmp_path):
    out = tmp_path / "out.xlsx"
    write_cells(book, out, "Sheet1", {(r, c): f"<{r}&{c}>" for r in range(1, 9) for c in (2, 4)})
    root = etree.fromstring(sheet_bytes(out))  # raises on any malformed byte
    texts = [t.text for t in root.iter(f"{{{MAIN_NS}}}t")]
    assert len([t for t in texts if re.fullmatch(r"<\d&\d>", t or "")]) == 16


def test_rows_with_comments_take_the_careful_path_to_the_same_result(make_book, tmp_path):
    plain = '<row r="1"><c r="A1"><v>1</v></c><c r="C1" s="1"/><c r="E1"><v>5</v></c></row>'
    commented = plain.replace('<c r="C1"', '<!-- </c> --><c r="C1"')
    targets = {(1, 2): "b", (1, 3): "c", (1, 4): "d", (1, 6): "f"}
    layouts = []
    for name, rows in (("plain.xlsx", plain), ("commented.xlsx", commented)):
        out = tmp_path / f"out-{name}"
        write_cells(make_book({"Sheet1": sheet_xml(rows)}, name=name), out, "Sheet1", targets)
        cells = cells_of(out)
        layouts.append(
            [(ref, c.get("s"), c.findtext("m:is/m:t", namespaces=NS)) for ref, c in cells.items()]
        )
    assert layouts[0] == layouts[1]
    assert [ref for ref, _, _ in layouts[0]] == ["A1", "B1", "C1", "D1", "E1", "F1"]
    assert layouts[0][2] == ("C1", "1", "c")


def test_refused_in_place_write_leaves_the_source_intact(book, tmp_path):
    before = digest(book)
    with pytest.raises(WorkbookError):
        write_cells(book, book, "Sheet1", {(1, 1): "clobber"})
    assert digest(book) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx"]


def test_targets_outside_the_grid_are_refused(book, tmp_path):
    with pytest.raises(WorkbookError, match="outside the sheet's grid"):
        write_cells(book, tmp_path / "o.xlsx", "Sheet1", {(1, 16385): "x"})
    assert not (tmp_path / "o.xlsx").exists()


@pytest.mark.parametrize("comment", ["", "<!-- note -->"], ids=["plain", "commented"])
def test_find_conflicts_and_write_cells_agree(make_book, tmp_path, comment):
    rows = (
        f'<row>{comment}<c><v>1</v></c><c/><c><f>1+1</f><v>2</v></c><c t="s"><v>0</v></c></row>'
        '<row><c r="B2" s="1"><v></v></c><c r="D2" t="inlineStr"><is><t>x</t></is></c></row>'
    )
    path = make_book({"Sheet1": sheet_xml(rows)}, shared=["s"])
    targets = {(r, c): "new" for r in (1, 2, 3) for c in (1, 2, 3, 4, 5)}
    expected = ["A1", "C1", "D1", "D2"]
    assert find_conflicts(path, "Sheet1", targets, overwrite=False) == expected
    with pytest.raises(WorkbookError) as caught:
        write_cells(path, tmp_path / "o.xlsx", "Sheet1", targets)
    assert re.findall(r"\b[A-E][1-3]\b", str(caught.value)) == ["C1", "A1", "D1", "D2"]
    assert find_conflicts(path, "Sheet1", targets, overwrite=True) == ["C1"]
