"""Zero-loss write-back: put text answers into cells, leave every other part of the package alone.

Only the target worksheet's XML changes (streamed, see sheet_rewrite.py); every other zip member is
copied with its name, order, timestamp and compression method. The result goes to a temporary file
beside `dest`, is fsynced and then renamed over `dest`, so a crash never leaves half a workbook.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from excel_glm.errors import RangeSpecError, WorkbookError
from excel_glm.workbook.package import Package, open_package
from excel_glm.workbook.ranges import cell_address, parse_cell
from excel_glm.workbook.sheet_rewrite import Conflict, SheetRewriter

MAX_CELL_CHARS = 32_767  # Excel's limit on the text of one cell
ZIP64_FROM = 1 << 30
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class WriteReport:
    """How many cells were written, and into which zip member."""

    written: int
    part: str


def find_conflicts(
    path: Path, sheet: str | None, coords: Iterable[tuple[int, int]], *, overwrite: bool
) -> list[str]:
    """Addresses ("C5") of target cells that may not be written: formulas always, values unless
    `overwrite`. Call it before paying for answers."""
    targets = dict.fromkeys(coords, "x")
    with open_package(Path(path)) as package:
        part = package.worksheet(sheet).part
        assert part is not None
        _refuse_table_cells(package, part, targets)
        rewriter = SheetRewriter(targets, overwrite=overwrite, write=None)
        with package.open_part(part) as raw:
            _guard(package, part, rewriter.run, raw)
    return [cell_address(c.row, c.col) for c in _sorted(rewriter.conflicts)]


def write_cells(
    source: Path,
    dest: Path,
    sheet: str | None,
    values: Mapping[tuple[int, int], str],
    *,
    overwrite: bool = False,
) -> WriteReport:
    """Write `values` ((row, col) -> text) into `sheet` of `source`, saving the result as `dest`.

    Text only, never a formula; each target keeps its style; raises WorkbookError (and leaves
    `dest` untouched) on conflicts, bad input or an unwritable destination.
    """
    source, dest = Path(source), Path(dest)
    _check_values(values)
    if dest.is_dir():
        raise WorkbookError(f"cannot write {dest}: it is a folder")
    with open_package(source) as package:  # refuse a bad workbook before touching dest's folder
        part = package.worksheet(sheet).part
        assert part is not None
        _refuse_table_cells(package, part, values)
    # The source is opened again inside the temp file's block so that it is closed before the
    # rename: Windows cannot replace a file that is still open (dest may be the source).
    with _atomic_output(dest, source) as handle, open_package(source) as package:
        rewriter = _write_package(package, part, values, overwrite, handle)
        if rewriter.conflicts:
            raise WorkbookError(_conflict_message(rewriter.conflicts))
    return WriteReport(written=len(values), part=part)


def _refuse_table_cells(package: Package, part: str, targets: Iterable[tuple[int, int]]) -> None:
    """Cells Excel rebuilds or checks on opening: a table's header row (it must hold the column
    names) and a pivot table's area (it must match the pivot cache); it would "repair" the file."""
    coords = list(targets)
    for name, ref, has_header in package.tables(part):
        area = _area(ref)
        if area and has_header:
            _refuse_in(
                coords,
                (area[0], area[1], area[0], area[3]),
                f"the header row of table {name!r} ({ref})",
            )
    for name, ref in package.pivot_tables(part):
        area = _area(ref)
        if area:
            _refuse_in(coords, area, f"pivot table {name!r} ({ref})")


def _area(ref: str) -> tuple[int, int, int, int] | None:
    """ "B2:D9" -> (2, 2, 9, 4) as (top, left, bottom, right); None when it does not parse."""
    first, _, last = ref.partition(":")
    try:
        (top, left), (bottom, right) = parse_cell(first), parse_cell(last or first)
    except RangeSpecError:
        return None  # an object without a usable ref: Excel would not use it either
    return top, left, bottom, right


def _refuse_in(coords: list[tuple[int, int]], area: tuple[int, int, int, int], what: str) -> None:
    hit = sorted((r, c) for r, c in coords if area[0] <= r <= area[2] and area[1] <= c <= area[3])
    if hit:
        raise WorkbookError(
            f"{cell_address(*hit[0])} is in {what}, which Excel rebuilds; it is never written"
        )


def _check_values(values: Mapping[tuple[int, int], str]) -> None:
    for (row, col), text in values.items():
        if not isinstance(text, str):
            raise TypeError(f"cell values must be text, got {type(text).__name__} for {(row, col)}")
        # Excel counts UTF-16 code units; only long texts need the exact count.
        if len(text) > MAX_CELL_CHARS // 2 and len(text.encode("utf-16-le")) // 2 > MAX_CELL_CHARS:
            raise WorkbookError(
                f"the answer for {cell_address(row, col)} has more than {MAX_CELL_CHARS:,} "
                "characters, Excel's limit for one cell"
            )


def _write_package(
    package: Package,
    part: str,
    values: Mapping[tuple[int, int], str],
    overwrite: bool,
    handle: IO[bytes],
) -> SheetRewriter:
    rewriter: SheetRewriter | None = None
    with zipfile.ZipFile(handle, "w") as out:
        for info in package.zip.infolist():
            copy = _clone_info(info)
            if info.is_dir():
                out.writestr(copy, b"")
                continue
            large = info.file_size >= ZIP64_FROM
            with (
                package.open_part(info.filename) as raw,
                out.open(copy, "w", force_zip64=large) as sink,
            ):
                if info.filename == part:
                    rewriter = SheetRewriter(values, overwrite=overwrite, write=sink.write)
                    _guard(package, part, rewriter.run, raw)
                else:
                    _guard(package, info.filename, shutil.copyfileobj, raw, sink, COPY_CHUNK)
    assert rewriter is not None
    return rewriter


def _guard(package: Package, part: str, action, *args) -> None:
    """Run a read of `part`, turning zip-level corruption into one WorkbookError."""
    try:
        action(*args)
    except (zipfile.BadZipFile, EOFError, ValueError, RuntimeError) as exc:
        raise WorkbookError(f"{package.display}: part {part} is corrupt ({exc})") from None


def _clone_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A ZipInfo with the same name, date, method and attributes (extra fields rebuilt)."""
    copy = zipfile.ZipInfo(info.filename, info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.create_system = info.create_system
    copy.comment = info.comment
    return copy


@contextlib.contextmanager
def _atomic_output(dest: Path, source: Path):
    """A temp file in dest's folder that becomes `dest` only if the block succeeds."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise WorkbookError(f"cannot write {dest}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, (dest if dest.exists() else source).stat().st_mode & 0o7777)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkbookError(f"cannot write {dest}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(dest.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sorted(conflicts: list[Conflict]) -> list[Conflict]:
    unique = {(c.row, c.col): c for c in conflicts}
    return [unique[key] for key in sorted(unique)]


def _conflict_message(conflicts: list[Conflict]) -> str:
    ordered = _sorted(conflicts)
    formulas = [cell_address(c.row, c.col) for c in ordered if c.reason == "formula"]
    filled = [cell_address(c.row, c.col) for c in ordered if c.reason == "value"]
    parts = []
    if formulas:
        parts.append(
            f"{_listing(formulas)} {'holds a formula' if len(formulas) == 1 else 'hold formulas'}"
            ", which are never overwritten"
        )
    if filled:
        parts.append(
            f"{_listing(filled)} {'is' if len(filled) == 1 else 'are'} not empty "
            "(allow overwriting to replace)"
        )
    return "target cells in use: " + "; ".join(parts)


def _listing(addresses: list[str]) -> str:
    shown = ", ".join(addresses[:10])
    return shown + (f" and {len(addresses) - 10} more" if len(addresses) > 10 else "")
