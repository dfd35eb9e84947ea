"""The workbook side of a CLI run: where answers go, what may be written, and the write itself.

Everything here happens either before the first model call (checks that cost nothing) or after the
last one (the write). Nothing here talks to a model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from excel_glm.errors import RangeSpecError, WorkbookError
from excel_glm.results import CellResult
from excel_glm.workbook.ranges import cell_address, parse_range, parse_target
from excel_glm.workbook.read import CellRef, read_range
from excel_glm.workbook.write import find_conflicts, write_cells

# Excel's grid limits: a target beyond them cannot exist.
MAX_COLUMN = 16_384
MAX_ROW = 1_048_576


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """Where the result goes, and the backup made first when the input itself is rewritten."""

    dest: Path
    backup: Path | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A cell whose answer could not be had; its target cells are left as they were."""

    address: str
    message: str


@dataclass(frozen=True, slots=True)
class WorkbookJob:
    """A checked job: the cells to send and, for each, the target cells of its answer.

    `targets[i]` lists one (row, col) per answer column of `cells[i]`: one for most tasks, one per
    field for extract, in field order.
    """

    book: Path
    sheet: str
    cells: Sequence[CellRef]
    targets: list[tuple[tuple[int, int], ...]]
    output: OutputPlan

    @property
    def values(self) -> list[object]:
        """The input values in range order, as the engine takes them."""
        return [cell.value for cell in self.cells]


def check_book(book: Path) -> None:
    """Refuse at once a BOOK that is missing or a folder (no output name can be made from it)."""
    if book.is_dir():
        raise WorkbookError(f"{book} is a folder, not a workbook: give the .xlsx or .xlsm file")
    if not book.is_file():
        raise WorkbookError(f"no such workbook: {book}")


def default_output_path(book: Path) -> Path:
    """BOOK.glm.xlsx (or BOOK.glm.xlsm) beside the input."""
    suffix = book.suffix.lower() or ".xlsx"
    return book.with_name(f"{book.stem}.glm{suffix}")


def plan_output(book: Path, out: Path | None, in_place: bool) -> OutputPlan:
    """Decide the output file; refuse anything that would overwrite the input by accident."""
    if in_place:
        if out is not None:
            raise WorkbookError("--in-place and --out cannot be combined: choose one")
        return OutputPlan(dest=book, backup=book.with_name(book.name + ".bak"))
    if out is None:
        return OutputPlan(dest=default_output_path(book))
    if _same_file(out, book):
        raise WorkbookError(
            f"--out {out} is the input workbook: pass --in-place to rewrite it (a backup is kept)"
        )
    if out.suffix.lower() != book.suffix.lower():
        # The package is copied as it is, so its content types only match the input's extension.
        raise WorkbookError(
            f"--out must keep the input's extension ({book.suffix}), not {out.suffix or 'none'}"
        )
    return OutputPlan(dest=out)


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def check_output_writable(dest: Path) -> None:
    """Fail now, before any model call, if the output cannot be created where it is asked for."""
    folder = dest.parent
    if dest.is_dir():
        raise WorkbookError(f"cannot write {dest}: it is a folder")
    if not folder.is_dir():
        raise WorkbookError(f"cannot write {dest}: folder {folder} does not exist")
    # Creating a file is the only test that also catches read-only mounts (and works as root).
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".excel-glm-check-"):
            pass
    except OSError as exc:
        raise WorkbookError(f"cannot write {dest}: {exc.strerror or exc}") from None


def target_cells(
    cell_row: int,
    cell_col: int,
    source_origin: tuple[int, int],
    anchor: tuple[int, int],
    width: int,
) -> tuple[tuple[int, int], ...]:
    """The target cells of one input cell: the source block shifted to the anchor, each source
    column widened to `width` answer columns (the fields of extract)."""
    row = anchor[0] + (cell_row - source_origin[0])
    first_col = anchor[1] + (cell_col - source_origin[1]) * width
    return tuple((row, first_col + k) for k in range(width))


def check_no_overlap(
    source: tuple[int, int, int, int], target: tuple[int, int, int, int], describe: str
) -> None:
    """Refuse a target block that overlaps the input block.

    Each block is (min_row, min_col, max_row, max_col).
    """
    s_r0, s_c0, s_r1, s_c1 = source
    t_r0, t_c0, t_r1, t_c1 = target
    if t_r0 <= s_r1 and s_r0 <= t_r1 and t_c0 <= s_c1 and s_c0 <= t_c1:
        raise RangeSpecError(
            f"the target {describe} overlaps the input range: choose another --into"
        )


def check_inside_grid(max_row: int, max_col: int) -> None:
    """Refuse targets past Excel's last row or column."""
    if max_col > MAX_COLUMN or max_row > MAX_ROW:
        raise RangeSpecError("the target runs past the sheet's last column or row (XFD1048576)")


def prepare_job(
    book: Path,
    range_spec: str,
    into: str,
    *,
    width: int,
    output: OutputPlan,
    overwrite: bool,
) -> WorkbookJob:
    """Read the input cells and check every target, all before any model call (nothing is paid)."""
    check_book(book)
    try:
        rng = parse_range(range_spec)
    except RangeSpecError as exc:
        raise RangeSpecError(f"--range: {exc}") from None
    anchor = parse_target(into, rng)
    read = read_range(book, rng)
    cells = read.cells
    if all(_is_blank(cell.value) for cell in cells):
        raise WorkbookError(f"the range {range_spec} holds no values: nothing to do")
    origin = (rng.min_row, rng.min_col)
    targets = [target_cells(c.row, c.col, origin, anchor, width) for c in cells]
    last_row = max(cell.row for cell in cells)
    target_block = (
        anchor[0],
        anchor[1],
        anchor[0] + last_row - rng.min_row,
        anchor[1] + (rng.max_col - rng.min_col + 1) * width - 1,
    )
    check_no_overlap((rng.min_row, rng.min_col, last_row, rng.max_col), target_block, into)
    check_inside_grid(target_block[2], target_block[3])
    wanted = [
        coord
        for cell, cell_targets in zip(cells, targets, strict=True)
        if not _is_blank(cell.value)
        for coord in cell_targets
    ]
    conflicts = find_conflicts(book, read.sheet, wanted, overwrite=overwrite)
    if conflicts:
        raise WorkbookError(_conflict_message(conflicts, overwrite))
    return WorkbookJob(book=book, sheet=read.sheet, cells=cells, targets=targets, output=output)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _conflict_message(conflicts: Sequence[str], overwrite: bool) -> str:
    shown = ", ".join(conflicts[:5]) + (", ..." if len(conflicts) > 5 else "")
    if overwrite:
        return f"{len(conflicts)} target cell(s) hold formulas, never overwritten: {shown}"
    return (
        f"{len(conflicts)} target cell(s) are not empty: {shown}; pass --overwrite to replace "
        "values (formula cells are never overwritten)"
    )


def _copy_whole(source: Path, dest: Path) -> None:
    """Copy `source` to `dest` through a temporary file: an interrupted copy never replaces an
    older backup with half a workbook."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def answers_to_write(
    job: WorkbookJob, results: Sequence[CellResult], fields: Sequence[str] | None
) -> tuple[dict[tuple[int, int], str], list[Failure]]:
    """Turn the engine's results into target-cell text and a list of the cells that failed."""

    values: dict[tuple[int, int], str] = {}
    failures: list[Failure] = []
    for cell, targets, result in zip(job.cells, job.targets, results, strict=True):
        if result.error is not None:
            failures.append(Failure(cell_address(cell.row, cell.col), result.error))
            continue
        if result.value is None:
            continue  # a blank input: nothing to write
        for coord, text in zip(targets, _answer_columns(result.value, fields), strict=True):
            if text:  # an empty field stays an empty cell
                values[coord] = text
    return values, failures


def _answer_columns(value: object, fields: Sequence[str] | None) -> list[str]:
    if fields is None:
        return [value if isinstance(value, str) else str(value)]
    answer = value if isinstance(value, Mapping) else {}
    return [str(answer.get(name) or "") for name in fields]


def write_output(
    job: WorkbookJob, values: Mapping[tuple[int, int], str], *, overwrite: bool
) -> int:
    """Write the answers (backing the input up first for --in-place); return the cells written."""

    try:
        if job.output.backup is not None:
            _copy_whole(job.book, job.output.backup)
        report = write_cells(job.book, job.output.dest, job.sheet, values, overwrite=overwrite)
    except (OSError, WorkbookError) as exc:
        problem = (
            f"cannot write {job.output.dest}: {exc.strerror or exc}"
            if isinstance(exc, OSError)
            else str(exc)
        )
        # Paid for by now: say so, or the user may think a rerun costs as much again.
        raise WorkbookError(
            f"{problem}; the answers are cached: once the file can be written (closed in Excel, "
            "say), run the same command again, nothing is paid twice"
        ) from None
    return report.written
