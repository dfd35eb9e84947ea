"""Hostile or broken files: one clear WorkbookError each, and no output file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from excel_glm.errors import RangeSpecError, WorkbookError
from excel_glm.workbook import package as package_module
from excel_glm.workbook.package import OLE2_SIGNATURE
from excel_glm.workbook.ranges import parse_range
from excel_glm.workbook.read import read_range
from excel_glm.workbook.write import find_conflicts, write_cells

from .books import CORPUS, sheet_xml

ROWS = '<row r="1"><c r="A1" t="inlineStr"><is><t>hello</t></is></c></row>'


def assert_refused(path: Path, tmp_path: Path, fragment: str) -> None:
    """Reading, checking and writing all refuse `path` with a message holding `fragment`."""
    out = tmp_path / "out.xlsx"
    attempts = [
        lambda: read_range(path, parse_range("A1:A2")),
        lambda: find_conflicts(path, None, [(1, 2)], overwrite=False),
        lambda: write_cells(path, out, None, {(1, 2): "x"}),
    ]
    for attempt in attempts:
        with pytest.raises(WorkbookError) as caught:
            attempt()
        assert fragment in str(caught.value).lower()
        assert "\n" not in str(caught.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_a_text_file_is_not_a_workbook(tmp_path):
    path = tmp_path / "notes.xlsx"
    path.write_text("just some text, not a zip")
    assert_refused(path, tmp_path, "not a zip")


def test_an_encrypted_workbook_is_named_as_such(tmp_path):
    # A password-protected .xlsx is an OLE2 file whose directory names an EncryptedPackage.
    path = tmp_path / "secret.xlsx"
    entry = "EncryptedPackage".encode("utf-16-le")
    # Far from the start, and straddling two of the 1 MB chunks the check reads.
    path.write_bytes(OLE2_SIGNATURE + b"\0" * ((3 << 20) - 13) + entry + b"\0" * 64)
    assert_refused(path, tmp_path, "encrypted (password-protected)")


def test_a_legacy_xls_file_is_named_as_such(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(OLE2_SIGNATURE + b"\0" * 4096 + "Workbook".encode("utf-16-le"))
    assert_refused(path, tmp_path, "legacy excel 97-2003 (.xls)")
    with pytest.raises(WorkbookError) as caught:
        read_range(path, parse_range("A1"))
    assert "encrypted" not in str(caught.value)


def test_a_truncated_zip_is_corrupt(tmp_path, make_book):
    good = make_book({"Sheet1": sheet_xml(ROWS)})
    path = tmp_path / "cut.xlsx"
    path.write_bytes(good.read_bytes()[:-200])
    assert_refused(path, tmp_path, "corrupt")


def test_a_zip_without_workbook_part_is_not_a_workbook(tmp_path):
    path = tmp_path / "docs.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")
    assert_refused(path, tmp_path, "no workbook.xml")


def test_the_corpus_xml_bomb_is_refused(tmp_path):
    bomb = CORPUS / "poc-xmlbomb-empty.xlsx"
    assert bomb.exists(), f"the shared corpus is missing at {CORPUS}"
    assert_refused(bomb, tmp_path, "doctype")


def test_an_entity_bomb_in_the_worksheet_is_refused(tmp_path, make_book):
    lol = (
        '<?xml version="1.0"?>\n<!-- harmless comment first -->\n'
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    )
    xml = sheet_xml(ROWS).replace('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', lol)
    path = make_book({"Sheet1": xml})
    assert_refused(path, tmp_path, "doctype")


def test_a_zip_bomb_is_refused_before_anything_is_inflated(tmp_path, make_book, monkeypatch):
    # A real 1 GB bomb would be slow to build; lower the caps instead and use a 30 MB bomb.
    monkeypatch.setattr(package_module, "MAX_TOTAL_UNCOMPRESSED", 20 << 20)
    monkeypatch.setattr(package_module, "MAX_RATIO", 10**6)  # test the total cap on its own
    zeros = b"<" + b" " * (30 << 20) + b"/>"
    path = make_book({"Sheet1": sheet_xml(ROWS)}, extra={"xl/media/bomb.xml": zeros})
    assert_refused(path, tmp_path, "refusing anything over 20 mb (zip bomb)")


def test_a_part_with_an_absurd_compression_ratio_is_refused(tmp_path, make_book):
    zeros = b"\0" * (8 << 20)  # compresses about 1000-fold; real parts stay far below 200
    path = make_book({"Sheet1": sheet_xml(ROWS)}, extra={"xl/media/image1.png": zeros})
    assert_refused(path, tmp_path, "zip bomb")


def test_a_missing_sheet_names_the_sheets_there_are(tmp_path, make_book):
    path = make_book({"Data": sheet_xml(ROWS), "Other": sheet_xml("")})
    with pytest.raises(WorkbookError, match=r"no sheet 'Reviews'.*'Data', 'Other'"):
        read_range(path, parse_range("Reviews!A1:A3"))
    with pytest.raises(WorkbookError, match="no sheet 'Reviews'"):
        write_cells(path, tmp_path / "o.xlsx", "Reviews", {(1, 1): "x"})
    assert not (tmp_path / "o.xlsx").exists()


def test_sheet_names_match_case_insensitively_like_excel(make_book):
    path = make_book({"Data": sheet_xml(ROWS)})
    assert read_range(path, parse_range("data!A1")).sheet == "Data"


def test_a_missing_file_is_a_workbook_error(tmp_path):
    with pytest.raises(WorkbookError, match="no such file"):
        read_range(tmp_path / "nope.xlsx", parse_range("A1"))


def test_a_malformed_range_is_a_range_error():
    with pytest.raises(RangeSpecError):
        parse_range("Sheet1!B2:")


def test_an_unwritable_output_path_leaves_nothing(tmp_path, make_book):
    path = make_book({"Sheet1": sheet_xml(ROWS)})
    for dest in (tmp_path / "no-such-folder" / "out.xlsx", path / "inside-a-file.xlsx", tmp_path):
        with pytest.raises(WorkbookError, match="cannot write"):
            write_cells(path, dest, None, {(1, 2): "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx"]


def test_malformed_worksheet_xml_is_refused_without_output(tmp_path, make_book):
    broken = sheet_xml(ROWS).replace("</sheetData>", "")  # rows never end
    path = make_book({"Sheet1": broken})
    with pytest.raises(WorkbookError):
        write_cells(path, tmp_path / "o.xlsx", None, {(1, 2): "x"})
    assert not (tmp_path / "o.xlsx").exists()
