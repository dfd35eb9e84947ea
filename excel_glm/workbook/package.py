"""Opening an .xlsx/.xlsm package safely and finding its worksheets.

Everything hostile is refused here, once, with one clear WorkbookError: an empty file or one that
is not a zip, an encrypted workbook or a legacy .xls (both OLE2 compound files, told apart), an
.xlsb or .ods, a broken zip, member names that leave the package ("../", absolute, "\\"),
zip bombs (caps on the total uncompressed size and on each member's compression ratio), XML
bombs (no part may declare a DOCTYPE, so no entity can expand) and packages without
[Content_Types].xml or a workbook part.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote
from xml.etree.ElementTree import Element

from excel_glm.errors import WorkbookError

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_TOTAL_UNCOMPRESSED = 1 << 30  # 1 GiB: a 100,000-row sheet is about 10 MB of XML
MAX_RATIO = 200  # deflate reaches ~1000:1 on bombs; real sheet XML stays well under 50:1
RATIO_FLOOR = 1 << 20  # small parts may compress as well as they like
MAX_MEMBERS = 20_000
MAX_PROLOG = 1 << 20
MAX_SMALL_PART = 64 << 20  # workbook.xml and .rels files are read whole

_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")  # directory entry of an encrypted .xlsx
_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_OFFICE_DOC_REL = "/officeDocument"
_WORKSHEET_REL = "/worksheet"
_CHARTSHEET_REL = "/chartsheet"


@dataclass(frozen=True)
class SheetInfo:
    """One sheet listed in workbook.xml: its name, its zip member and its kind."""

    name: str
    part: str | None  # None when the relationship points nowhere inside the package
    kind: str  # "worksheet", "chartsheet", "dialogsheet", "macrosheet" or "other"


def _refuse_doctype(head: bytes, name: str, display: str) -> bool:
    """True when the prolog ended (root element reached); raises on any DOCTYPE."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    else:
        text = head.decode("latin-1")
    i = 1 if text.startswith("\ufeff") else 0
    if text.startswith("\xef\xbb\xbf"):
        i = 3
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text):
            return False
        if not text.startswith("<", i):
            return True  # not XML (or text before the root): nothing to expand
        if text.startswith("<?", i):
            end = text.find("?>", i)
            if end < 0:
                return False
            i = end + 2
        elif text.startswith("<!--", i):
            end = text.find("-->", i)
            if end < 0:
                return False
            i = end + 3
        elif text.startswith("<!", i):
            raise WorkbookError(
                f"{display}: part {name} declares a DOCTYPE (a possible XML bomb); "
                "refusing to open it"
            )
        else:
            return True


class Package:
    """A validated, open .xlsx/.xlsm zip; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.display = self.path.name
        self.zip = _open_zip(self.path)
        try:
            self.members = _check_members(self.zip, self.display)
            self._by_lower = {n.lower(): n for n in self.members}
            for info in self.zip.infolist():
                if not info.is_dir():
                    self._check_xml_prolog(info.filename)
            self.workbook_part = self._find_workbook_part()
            self._sheets: list[SheetInfo] | None = None
            self._active_tab = 0
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying zip file."""
        self.zip.close()

    def resolve(self, name: str) -> str | None:
        """The zip member for an OPC part name (case-insensitive, as OPC says), or None."""
        key = name.lstrip("/").lower()
        found = self._by_lower.get(key)
        if found is None and "%" in key:  # relationship targets may be percent-encoded
            found = self._by_lower.get(unquote(key))
        return found

    def open_part(self, name: str) -> IO[bytes]:
        """A stream of one member's uncompressed bytes."""
        try:
            return self.zip.open(name)
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
            raise WorkbookError(f"{self.display}: part {name} cannot be read ({exc})") from None

    def read_part(self, name: str) -> bytes:
        """One small member whole (refuses members above MAX_SMALL_PART)."""
        if self.zip.getinfo(name).file_size > MAX_SMALL_PART:
            raise WorkbookError(f"{self.display}: part {name} is implausibly large")
        with self.open_part(name) as stream:
            try:
                return stream.read()
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise WorkbookError(f"{self.display}: part {name} is corrupt ({exc})") from None

    def parse_xml(self, name: str) -> Element:
        """Parse a small XML member with DTDs forbidden."""
        import defusedxml.ElementTree as safe_et

        try:
            return safe_et.fromstring(self.read_part(name))
        except Exception as exc:  # ParseError and defusedxml's DTD/entity refusals
            raise WorkbookError(f"{self.display}: part {name} is not valid XML ({exc})") from None

    def sheets(self) -> list[SheetInfo]:
        """Every sheet of workbook.xml in tab order."""
        if self._sheets is None:
            self._sheets = self._read_sheets()
        return self._sheets

    def worksheet(self, name: str | None) -> SheetInfo:
        """The worksheet called `name` (case-insensitive, as Excel), or the active one for None."""
        sheets = self.sheets()
        worksheets = [s for s in sheets if s.kind == "worksheet" and s.part]
        if name is None:
            if 0 <= self._active_tab < len(sheets) and sheets[self._active_tab] in worksheets:
                return sheets[self._active_tab]
            if worksheets:
                return worksheets[0]
            raise WorkbookError(f"{self.display} has no worksheet")
        for sheet in sheets:
            if sheet.name.casefold() == name.casefold():
                if sheet not in worksheets:
                    raise WorkbookError(f"{self.display}: sheet {sheet.name!r} {_why_not(sheet)}")
                return sheet
        known = ", ".join(repr(s.name) for s in worksheets) or "none"
        raise WorkbookError(f"{self.display} has no sheet {name!r} (worksheets: {known})")

    def related_part(self, source_part: str, type_suffix: str) -> str | None:
        """The member that `source_part` relates to by a type ending in `type_suffix`, or None."""
        for rel_type, member in self._relationships(source_part).values():
            if rel_type.endswith(type_suffix) and member:
                return member
        return None

    def tables(self, sheet_part: str) -> list[tuple[str, str, bool]]:
        """(name, ref like "B2:D9", has a header row) for each table on the worksheet."""
        found = []
        for rel_type, member in self._relationships(sheet_part).values():
            if rel_type.endswith("/table") and member:
                table = self.parse_xml(member)
                name = table.get("displayName") or table.get("name") or member
                found.append((name, table.get("ref", ""), table.get("headerRowCount") != "0"))
        return found

    def pivot_tables(self, sheet_part: str) -> list[tuple[str, str]]:
        """(name, location ref like "A3:C20") for each pivot table on the worksheet."""
        found = []
        for rel_type, member in self._relationships(sheet_part).values():
            if rel_type.endswith("/pivotTable") and member:
                pivot = self.parse_xml(member)
                location = next((e for e in pivot if _local(e.tag) == "location"), None)
                if location is not None:
                    found.append((pivot.get("name") or member, location.get("ref", "")))
        return found

    def _check_xml_prolog(self, name: str) -> None:
        with self.open_part(name) as stream:
            head = b""
            try:
                while len(head) < MAX_PROLOG:
                    chunk = stream.read(16384)
                    head += chunk
                    if _refuse_doctype(head, name, self.display) or not chunk:
                        return
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise WorkbookError(f"{self.display}: part {name} is corrupt ({exc})") from None
        raise WorkbookError(f"{self.display}: part {name} has an implausibly long XML prolog")

    def _relationships(self, source_part: str) -> dict[str, tuple[str, str | None]]:
        """rId -> (type, resolved member or None) for the rels of `source_part`."""
        folder, base = posixpath.split(source_part)
        rels_name = self.resolve(posixpath.join(folder, "_rels", base + ".rels"))
        if rels_name is None:
            return {}
        result = {}
        for rel in self.parse_xml(rels_name).iter(f"{_REL_NS}Relationship"):
            target = rel.get("Target", "")
            member = None
            if rel.get("TargetMode") != "External" and target:
                path = target[1:] if target.startswith("/") else posixpath.join(folder, target)
                member = self.resolve(posixpath.normpath(path))
            result[rel.get("Id", "")] = (rel.get("Type", ""), member)
        return result

    def _find_workbook_part(self) -> str:
        if self.resolve("mimetype") and self.resolve("content.xml"):
            raise WorkbookError(
                f"{self.display} is an OpenDocument (.ods) spreadsheet; save it as .xlsx first"
            )
        part = self.related_part("", _OFFICE_DOC_REL) or self.resolve("xl/workbook.xml")
        if part is None:
            raise WorkbookError(f"{self.display} is not a workbook: it has no workbook.xml part")
        if self.resolve("[Content_Types].xml") is None:
            raise WorkbookError(
                f"{self.display} is not a valid workbook package: it has no [Content_Types].xml"
            )
        if part.lower().endswith(".bin"):
            raise WorkbookError(
                f"{self.display} is a binary (.xlsb) workbook; save it as .xlsx first"
            )
        return part

    def _read_sheets(self) -> list[SheetInfo]:
        root = self.parse_xml(self.workbook_part)
        rels = self._relationships(self.workbook_part)
        sheets = []
        for element in root.iter():
            if _local(element.tag) == "workbookView" and element.get("activeTab"):
                try:
                    self._active_tab = int(element.get("activeTab", "0"))
                except ValueError:
                    self._active_tab = 0
                break
        for element in root.iter():
            if _local(element.tag) != "sheet":
                continue
            rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
            rel_type, member = rels.get(rel_id, ("", None))
            kind = rel_type.rsplit("/", 1)[-1] if rel_type else "other"
            if kind not in ("worksheet", "chartsheet", "dialogsheet", "macrosheet"):
                kind = "other"
            sheets.append(SheetInfo(element.get("name", ""), member, kind))
        return sheets


def _why_not(sheet: SheetInfo) -> str:
    """Why a sheet listed in workbook.xml cannot take cells."""
    if sheet.part is None:
        return "is not a worksheet: its part is missing from the package (a damaged file)"
    if sheet.kind == "other":
        return "is not a worksheet"
    return f"is not a worksheet but a {sheet.kind}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _open_zip(path: Path) -> zipfile.ZipFile:
    display = path.name
    try:
        with open(path, "rb") as handle:
            signature = handle.read(8)
    except FileNotFoundError:
        raise WorkbookError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorkbookError(f"{path} is a folder, not a workbook") from None
    except OSError as exc:
        raise WorkbookError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not signature:
        raise WorkbookError(f"{display} is empty (0 bytes), not a workbook")
    if signature == OLE2_SIGNATURE:
        if _holds_encrypted_package(path):
            raise WorkbookError(
                f"{display} is encrypted (password-protected); remove the password in Excel "
                "and save it as .xlsx first"
            )
        raise WorkbookError(
            f"{display} is a legacy Excel 97-2003 (.xls) or other OLE2 file, not .xlsx; "
            "save it as .xlsx first"
        )
    if not signature.startswith(b"PK"):
        raise WorkbookError(f"{display} is not an .xlsx/.xlsm workbook (not a zip package)")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise WorkbookError(f"{display} is a corrupt zip package ({exc})") from None


def _holds_encrypted_package(path: Path) -> bool:
    """True when an OLE2 file holds the "EncryptedPackage" stream of a password-protected .xlsx.

    The stream's name sits in the compound file's directory, which may be anywhere in the file,
    so the whole file is scanned in chunks (bounded memory).
    """
    overlap = len(_ENCRYPTED_STREAM) - 1
    tail = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            if _ENCRYPTED_STREAM in tail + chunk:
                return True
            tail = chunk[-overlap:]
    return False


def _unsafe_member_name(name: str) -> bool:
    """Absolute paths, "..", backslashes and drive letters: no OPC part name holds them."""
    segments = name.split("/")
    return (
        name.startswith("/")
        or "\\" in name
        or "\0" in name
        or ".." in segments
        or (len(name) > 1 and name[1] == ":")
    )


def _check_members(archive: zipfile.ZipFile, display: str) -> list[str]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise WorkbookError(f"{display} holds {len(infos)} parts; refusing (possible zip bomb)")
    names = [info.filename for info in infos]
    unsafe = next((n for n in names if _unsafe_member_name(n)), None)
    if unsafe is not None:
        raise WorkbookError(f"{display} is a corrupt package: it holds a member named {unsafe!r}")
    if len({n.lower() for n in names}) != len(names):
        raise WorkbookError(f"{display} is a corrupt package: it repeats a part name")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise WorkbookError(f"{display} holds an encrypted zip member ({info.filename})")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise WorkbookError(
                f"{display}: part {info.filename} expands {ratio:.0f}-fold; refusing (zip bomb)"
            )
    if total > MAX_TOTAL_UNCOMPRESSED:
        raise WorkbookError(
            f"{display} expands to {total >> 20} MB; refusing anything over "
            f"{MAX_TOTAL_UNCOMPRESSED >> 20} MB (zip bomb)"
        )
    return names


def open_package(path: Path) -> Package:
    """Open and validate a workbook package; raises WorkbookError for anything unsafe or broken."""
    return Package(Path(path))
