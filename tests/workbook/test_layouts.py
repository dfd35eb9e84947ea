"""Packages laid out the way other producers lay them out: read them, write them, lose nothing."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas
import pytest

from excel_glm.errors import WorkbookError
from excel_glm.workbook.ranges import parse_range
from excel_glm.workbook.read import read_range
from excel_glm.workbook.write import find_conflicts, write_cells

from .books import FIDELITY_TOOL, sheet_xml

SHEET = "xl/worksheets/sheet1.xml"
RELS = "xl/_rels/workbook.xml.rels"
ROWS = (
    '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    '<row r="2"><c r="A2" t="inlineStr"><is><t>second</t></is></c></row>'
)
Edit = Callable[[str, bytes], list[tuple[str, bytes]]]


def repack(source: Path, dest: Path, edit: Edit) -> Path:
    """A copy of `source` where edit(name, data) gives each member's replacement(s)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            for name, data in edit(info.filename, old.read(info.filename)):
                new.writestr(name, data)
    return dest


def in_part(part: str, old: bytes, new: bytes) -> Edit:
    """An edit replacing `old` by `new` in one member."""
    return lambda name, data: [(name, data.replace(old, new) if name == part else data)]


def moved_sheet(new_name: str, target: str) -> Edit:
    """An edit moving the sheet part to `new_name`, the relationship pointing at `target`."""

    def edit(name: str, data: bytes) -> list[tuple[str, bytes]]:
        if name == SHEET:
            return [(new_name, data)]
        if name == RELS:
            return [(name, data.replace(b'Target="worksheets/sheet1.xml"', target.encode()))]
        if name == "[Content_Types].xml":
            quoted = "/" + new_name.replace(" ", "%20")
            return [(name, data.replace(b"/xl/worksheets/sheet1.xml", quoted.encode()))]
        return [(name, data)]

    return edit


def prefixed_workbook(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """workbook.xml with its main namespace on an x: prefix, as some generators write it."""
    if name != "xl/workbook.xml":
        return [(name, data)]
    for tag in (b"workbook", b"sheets", b"sheet"):
        data = data.replace(b"<" + tag + b" ", b"<x:" + tag + b" ")
        data = data.replace(b"<" + tag + b">", b"<x:" + tag + b">")
        data = data.replace(b"</" + tag + b">", b"</x:" + tag + b">")
    return [(name, data.replace(b"xmlns=", b"xmlns:x="))]


def every_xml(change: Callable[[bytes], bytes]) -> Edit:
    """An edit applying `change` to every XML member."""
    return lambda name, data: [(name, change(data) if name.endswith((".xml", ".rels")) else data)]


LAYOUTS: dict[str, Edit] = {
    "absolute relationship target": in_part(
        RELS, b'Target="worksheets/sheet1.xml"', b'Target="/xl/worksheets/sheet1.xml"'
    ),
    "target through ..": in_part(
        RELS, b'Target="worksheets/sheet1.xml"', b'Target="worksheets/../worksheets/sheet1.xml"'
    ),
    "explicit internal TargetMode": in_part(
        RELS,
        b'Target="worksheets/sheet1.xml"',
        b'Target="worksheets/sheet1.xml" TargetMode="Internal"',
    ),
    "sheet part named with a space": moved_sheet(
        "xl/worksheets/Sheet One.xml", 'Target="worksheets/Sheet%20One.xml"'
    ),
    "sheet part outside xl/": moved_sheet("data/grid.xml", 'Target="../data/grid.xml"'),
    "x: prefix in workbook.xml": prefixed_workbook,
    "UTF-8 byte order marks": every_xml(lambda data: b"\xef\xbb\xbf" + data),
    "CRLF and indentation": every_xml(lambda data: data.replace(b"><", b">\r\n  <")),
}


@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_other_package_layouts_read_and_write_losslessly(layout, make_book, tmp_path):
    base = make_book({"Data": sheet_xml(ROWS)}, name="base.xlsx", shared=["first"])
    path = repack(base, tmp_path / "book.xlsx", LAYOUTS[layout])
    read = read_range(path, parse_range("Data!A1:A2"))
    assert [c.value for c in read.cells] == ["first", "second"]
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Data", {(1, 2): "one", (2, 2): "two"})
    fidelity = subprocess.run(
        [sys.executable, str(FIDELITY_TOOL), str(path), str(out), "--may-change", read.part],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fidelity.returncode == 0, fidelity.stdout + fidelity.stderr
    assert [c.value for c in read_range(out, parse_range("Data!B1:B2")).cells] == ["one", "two"]


def test_the_sheet_read_is_the_part_the_write_changes(make_book, tmp_path):
    # openpyxl finds sheets its own way; a percent-encoded part name once made it miss the sheet
    # that write_cells would change. Reading now goes through the same resolved part.
    base = make_book({"Data": sheet_xml(ROWS)}, name="base.xlsx", shared=["first"])
    edit = moved_sheet("xl/worksheets/Sheet One.xml", 'Target="worksheets/Sheet%20One.xml"')
    path = repack(base, tmp_path / "book.xlsx", edit)
    read = read_range(path, parse_range("Data!A2"))
    assert (read.part, read.cells[0].value) == ("xl/worksheets/Sheet One.xml", "second")


@pytest.mark.parametrize("name", ["book", "book.tmp", "Book.XLSX", "download.zip"])
def test_a_workbook_reads_whatever_its_file_is_called(name, make_book, tmp_path):
    path = tmp_path / name
    shutil.copy(make_book({"Data": sheet_xml(ROWS)}, shared=["first"]), path)
    assert read_range(path, parse_range("A1")).cells[0].value == "first"


def test_shared_strings_are_found_by_relationship_like_the_sheet(make_book, tmp_path):
    # A producer that leaves sharedStrings.xml without a content-type override still has the
    # workbook relationship to it; the strings must not be lost or turned into errors.
    base = make_book({"Data": sheet_xml(ROWS)}, name="base.xlsx", shared=["first"])
    edit = in_part(
        "[Content_Types].xml", b'PartName="/xl/sharedStrings.xml"', b'PartName="/xl/gone.xml"'
    )
    path = repack(base, tmp_path / "book.xlsx", edit)
    assert read_range(path, parse_range("A1")).cells[0].value == "first"


def test_pandas_and_openpyxl_workbooks_take_answers(tmp_path):
    made = tmp_path / "pandas.xlsx"
    frame = pandas.DataFrame({"text": ["a", None, "c"], "n": [1, 2, 3]})
    frame.to_excel(made, index=False, sheet_name="It's ünï data", engine="openpyxl")
    targets = {(2, 3): "A", (4, 3): "C"}
    assert find_conflicts(made, "it's ünï data", targets, overwrite=False) == []
    out = tmp_path / "out.xlsx"
    write_cells(made, out, "it's ünï data", targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sheet = openpyxl.load_workbook(out)["It's ünï data"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["text", "n", None],
        ["a", 1, "A"],
        [None, 2, None],
        ["c", 3, "C"],
    ]


def test_rows_out_of_order_are_refused_not_reordered(make_book, tmp_path):
    rows = '<row r="3"><c r="A3"><v>3</v></c></row><row r="1"><c r="A1"><v>1</v></c></row>'
    path = make_book({"Data": sheet_xml(rows)})
    with pytest.raises(WorkbookError, match="out of order"):
        write_cells(path, tmp_path / "out.xlsx", "Data", {(2, 2): "x"})
    assert not (tmp_path / "out.xlsx").exists()


class _Unseekable(io.RawIOBase):
    """A write-only stream, so zipfile writes data descriptors as streaming producers do."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.handle.write(data)


@pytest.mark.parametrize("zip64", [False, True], ids=["data descriptors", "zip64 and descriptors"])
def test_streamed_and_zip64_packages_read_and_write(zip64, make_book, tmp_path):
    base = make_book({"Data": sheet_xml(ROWS)}, name="base.xlsx", shared=["first"])
    path = tmp_path / "streamed.xlsx"
    with (
        open(path, "wb") as handle,
        zipfile.ZipFile(base) as old,
        zipfile.ZipFile(_Unseekable(handle), "w", zipfile.ZIP_DEFLATED) as new,
    ):
        for info in old.infolist():
            with new.open(zipfile.ZipInfo(info.filename), "w", force_zip64=zip64) as sink:
                sink.write(old.read(info.filename))
    with zipfile.ZipFile(path) as check:
        assert all(info.flag_bits & 0x8 for info in check.infolist())  # sizes after the data
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Data", {(2, 2): "answer"})
    assert [c.value for c in read_range(out, parse_range("Data!A1:B2")).cells] == [
        "first",
        None,
        "second",
        "answer",
    ]


def test_dates_read_as_dates_when_the_styles_part_lives_elsewhere(make_book, tmp_path):
    rows = '<row r="1"><c r="A1" s="2"><v>43831</v></c></row>'  # style 2: yyyy-mm-dd
    base = make_book({"Data": sheet_xml(rows)}, name="base.xlsx")

    def edit(name: str, data: bytes) -> list[tuple[str, bytes]]:
        if name == "xl/styles.xml":
            return [("xl/look/format.xml", data)]
        if name == RELS:
            return [(name, data.replace(b'Target="styles.xml"', b'Target="look/format.xml"'))]
        if name == "[Content_Types].xml":
            return [(name, data.replace(b"/xl/styles.xml", b"/xl/look/format.xml"))]
        return [(name, data)]

    path = repack(base, tmp_path / "book.xlsx", edit)
    assert read_range(path, parse_range("A1")).cells[0].value == datetime(2020, 1, 1)


def strict(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """Every part moved to Strict Open XML's namespaces, as Excel's "Strict" format saves."""
    for transitional, strict_ns in (
        (
            b"schemas.openxmlformats.org/spreadsheetml/2006/main",
            b"purl.oclc.org/ooxml/spreadsheetml/main",
        ),
        (
            b"schemas.openxmlformats.org/officeDocument/2006/relationships",
            b"purl.oclc.org/ooxml/officeDocument/relationships",
        ),
    ):
        data = data.replace(transitional, strict_ns)
    return [(name, data)]


def test_a_strict_open_xml_workbook_reads_its_values(make_book, tmp_path):
    rows = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>5</v></c>'
        '<c r="C1" s="2"><v>43831</v></c></row>'
    )
    base = make_book({"Data": sheet_xml(rows)}, name="base.xlsx", shared=["first"])
    path = repack(base, tmp_path / "strict.xlsx", strict)
    values = [c.value for c in read_range(path, parse_range("Data!A1:C1")).cells]
    assert values == ["first", 5, datetime(2020, 1, 1)]
    out = tmp_path / "out.xlsx"
    write_cells(path, out, "Data", {(1, 4): "answer"})
    assert read_range(out, parse_range("Data!D1")).cells[0].value == "answer"
