"""Hostile packages and XML: one clear WorkbookError, nothing written, bounded time and memory."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from excel_glm.errors import WorkbookError
from excel_glm.workbook import read as read_module
from excel_glm.workbook import sheetxml
from excel_glm.workbook.ranges import parse_range
from excel_glm.workbook.read import read_range
from excel_glm.workbook.write import find_conflicts, write_cells

from .books import sheet_xml
from .test_hostile import assert_refused
from .test_layouts import repack

ROWS = '<row r="1"><c r="A1" t="inlineStr"><is><t>hello</t></is></c></row>'


def with_extra_member(base: Path, dest: Path, name: str) -> Path:
    """A copy of `base` with one more member called `name`."""

    def edit(member: str, data: bytes) -> list[tuple[str, bytes]]:
        extra = [(name, b"<x/>")] if member == "xl/styles.xml" else []
        return [(member, data), *extra]

    return repack(base, dest, edit)


@pytest.mark.parametrize(
    "name", ["../evil.xml", "/etc/evil.xml", "xl\\..\\..\\evil.xml", "C:/evil"]
)
def test_member_names_that_leave_the_package_are_refused(name, make_book, tmp_path):
    base = make_book({"Sheet1": sheet_xml(ROWS)}, name="base.xlsx")
    path = with_extra_member(base, tmp_path / "book.xlsx", name)
    assert_refused(path, tmp_path, "it holds a member named")


def test_a_package_without_content_types_is_refused(make_book, tmp_path):
    base = make_book({"Sheet1": sheet_xml(ROWS)}, name="base.xlsx")
    drop = lambda name, data: [] if name == "[Content_Types].xml" else [(name, data)]  # noqa: E731
    path = repack(base, tmp_path / "book.xlsx", drop)
    assert_refused(path, tmp_path, "no [content_types].xml")


def test_a_binary_xlsb_workbook_is_named_as_such(tmp_path):
    path = tmp_path / "binary.xlsb"
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="xl/workbook.bin" Type="http://schemas.openxmlformats.'
        'org/officeDocument/2006/relationships/officeDocument"/></Relationships>'
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", rels)
        archive.writestr("xl/workbook.bin", b"\x83\x01\x00\x80\x01")
    assert_refused(path, tmp_path, "binary (.xlsb) workbook")


def test_an_opendocument_spreadsheet_is_named_as_such(tmp_path):
    path = tmp_path / "calc.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    assert_refused(path, tmp_path, "opendocument (.ods)")


def test_an_empty_file_is_called_empty(tmp_path):
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    assert_refused(path, tmp_path, "is empty (0 bytes)")


def understate_size(path: Path, member: str, claimed: int) -> None:
    """Rewrite the local and central headers of `member` to claim `claimed` uncompressed bytes."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, claimed)
    central = data.rfind(b"PK\x01\x02")
    while central >= 0:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, central + 24, claimed)
            break
        central = data.rfind(b"PK\x01\x02", 0, central)
    path.write_bytes(bytes(data))


def test_a_member_inflating_past_its_declared_size_is_cut_off(make_book, tmp_path):
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>row {r} {r * 7919}</t></is></c></row>'
        for r in range(1, 60_000)
    )
    path = make_book({"Sheet1": sheet_xml(rows)})
    understate_size(path, "xl/worksheets/sheet1.xml", 50_000)
    out = tmp_path / "out.xlsx"
    for attempt in (
        lambda: read_range(path, parse_range("A:A")),
        lambda: find_conflicts(path, None, [(70_000, 2)], overwrite=False),
        lambda: write_cells(path, out, None, {(70_000, 2): "x"}),
    ):
        with pytest.raises(WorkbookError, match=r"corrupt|cannot be read"):
            attempt()
    assert not out.exists()


def stored_copy(source: Path, dest: Path) -> Path:
    """`source` repacked without compression, so no ratio cap applies to its parts."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info.filename))
    return dest


@pytest.mark.parametrize(
    "row",
    [
        '<row r="1" junk="{}"><c r="A1"><v>1</v></c></row>',  # one giant start tag
        '<row r="1"><c r="A1" t="inlineStr"><is><t>{}</t></is></c></row>',  # one giant cell
    ],
    ids=["tag", "text"],
)
def test_one_absurdly_large_element_is_refused(row, make_book, tmp_path, monkeypatch):
    # The cap is 64 MB; lowered here so that the test stays small and quick.
    monkeypatch.setattr(sheetxml, "MAX_ELEMENT", 2 << 20)
    monkeypatch.setattr(read_module._GuardedFeed, "FEED", 1 << 20)  # stays below the cap
    built = make_book({"Sheet1": sheet_xml(row.format("a" * (3 << 20)))}, name="built.xlsx")
    path = stored_copy(built, tmp_path / "big.xlsx")
    for attempt in (
        lambda: read_range(path, parse_range("A1:B1")),
        lambda: find_conflicts(path, None, [(1, 2)], overwrite=False),
        lambda: write_cells(path, tmp_path / "out.xlsx", None, {(1, 2): "x"}),
    ):
        with pytest.raises(WorkbookError, match="one element over 2 MB"):
            attempt()
    assert not (tmp_path / "out.xlsx").exists()


def test_deeply_nested_elements_neither_recurse_nor_explode(make_book, tmp_path):
    deep = ROWS + '<row r="2">' + "<x>" * 200_000 + "</x>" * 200_000 + "</row>"
    path = stored_copy(
        make_book({"Sheet1": sheet_xml(deep)}, name="built.xlsx"), tmp_path / "d.xlsx"
    )
    assert [c.value for c in read_range(path, parse_range("A1:A2")).cells] == ["hello", None]
    write_cells(path, tmp_path / "out.xlsx", None, {(2, 2): "x", (3, 1): "y"})
    assert [c.value for c in read_range(tmp_path / "out.xlsx", parse_range("B2")).cells] == ["x"]


@pytest.mark.parametrize(
    "part", ["[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels", "xl/workbook.xml"]
)
def test_an_external_entity_in_any_part_is_refused(part, make_book, tmp_path):
    base = make_book({"Sheet1": sheet_xml(ROWS)}, name="base.xlsx")
    doctype = b'?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'

    def edit(name: str, data: bytes) -> list[tuple[str, bytes]]:
        if name != part:
            return [(name, data)]
        return [(name, data.replace(b"?>", doctype, 1))]

    assert_refused(repack(base, tmp_path / "book.xlsx", edit), tmp_path, "doctype")


def test_a_long_tag_is_rescanned_a_logarithmic_number_of_times(make_book, tmp_path, monkeypatch):
    # Re-reading a growing window from the tag's start after every chunk was quadratic: a
    # 64 MB tag took minutes. Doubling the window makes the re-scans logarithmic.
    monkeypatch.setattr(sheetxml, "CHUNK", 4096)
    calls = []
    real_next_token = sheetxml.next_token

    def counting(data, pos, final):
        calls.append(pos)
        return real_next_token(data, pos, final)

    monkeypatch.setattr(sheetxml, "next_token", counting)
    row = '<row r="1" junk="{}"><c r="A1"><v>1</v></c></row>'.format("a" * (1 << 20))
    path = stored_copy(make_book({"Sheet1": sheet_xml(row)}), tmp_path / "long.xlsx")
    find_conflicts(path, None, [(1, 2)], overwrite=False)
    assert len(calls) < 60  # 256 chunks make the tag; a dozen doublings cover it


@pytest.mark.parametrize("kind", ["chart", "dialog"])
def test_a_range_on_a_chart_or_dialog_sheet_names_the_problem(kind, make_book, tmp_path):
    path = make_book({"Sheet1": sheet_xml(ROWS), "Odd": sheet_xml(ROWS)}, name="base.xlsx")
    edit = lambda name, data: [  # noqa: E731
        (
            name,
            data.replace(
                b'/worksheet" Target="worksheets/sheet2',
                f'/{kind}sheet" Target="worksheets/sheet2'.encode(),
            ),
        )
    ]
    book = repack(path, tmp_path / "book.xlsx", edit)
    with pytest.raises(WorkbookError, match=f"sheet 'Odd' is not a worksheet but a {kind}sheet"):
        read_range(book, parse_range("odd!A1"))
    with pytest.raises(WorkbookError, match="sheet 'Odd' is not a worksheet"):
        write_cells(book, tmp_path / "out.xlsx", "Odd", {(1, 2): "x"})
    assert not (tmp_path / "out.xlsx").exists()


def test_a_sheet_whose_part_is_missing_is_called_damaged(make_book, tmp_path):
    base = make_book({"Sheet1": sheet_xml(ROWS), "Gone": sheet_xml(ROWS)}, name="base.xlsx")
    drop = lambda name, data: [] if name.endswith("sheet2.xml") else [(name, data)]  # noqa: E731
    path = repack(base, tmp_path / "book.xlsx", drop)
    with pytest.raises(WorkbookError, match=r"'Gone' .*part is missing .*damaged"):
        read_range(path, parse_range("Gone!A1"))
    assert read_range(path, parse_range("Sheet1!A1")).cells[0].value == "hello"
