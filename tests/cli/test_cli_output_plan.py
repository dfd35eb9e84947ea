"""Where the CLI writes and where answers land, decided before any model call."""

from __future__ import annotations

import pytest

from excel_glm.cli_workbook_job import (
    check_no_overlap,
    check_output_writable,
    default_output_path,
    plan_output,
    target_cells,
)
from excel_glm.errors import RangeSpecError, WorkbookError


def test_default_output_sits_beside_the_input_and_keeps_the_macro_extension(tmp_path):
    assert default_output_path(tmp_path / "reviews.xlsx") == tmp_path / "reviews.glm.xlsx"
    assert default_output_path(tmp_path / "Macro.XLSM") == tmp_path / "Macro.glm.xlsm"


def test_in_place_plans_a_backup_first(tmp_path):
    book = tmp_path / "b.xlsx"
    plan = plan_output(book, None, in_place=True)
    assert plan.dest == book and plan.backup == tmp_path / "b.xlsx.bak"


def test_out_equal_to_the_input_is_refused_without_in_place(tmp_path):
    book = tmp_path / "b.xlsx"
    book.write_bytes(b"x")
    with pytest.raises(WorkbookError, match="--in-place"):
        plan_output(book, tmp_path / "." / "b.xlsx", in_place=False)


def test_out_and_in_place_together_are_refused(tmp_path):
    with pytest.raises(WorkbookError, match="cannot be combined"):
        plan_output(tmp_path / "b.xlsx", tmp_path / "c.xlsx", in_place=True)


def test_out_must_keep_the_input_extension(tmp_path):
    with pytest.raises(WorkbookError, match=r"\.xlsm"):
        plan_output(tmp_path / "m.xlsm", tmp_path / "m.xlsx", in_place=False)


def test_missing_output_folder_is_refused(tmp_path):
    with pytest.raises(WorkbookError, match="does not exist"):
        check_output_writable(tmp_path / "nowhere" / "out.xlsx")


def test_output_under_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(WorkbookError, match="cannot write"):
        check_output_writable(blocker / "out.xlsx")


def test_writable_check_leaves_no_file_behind(tmp_path):
    check_output_writable(tmp_path / "out.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_targets_follow_the_source_rows_and_widen_for_fields():
    # Source B2:C3, answers anchored at E2, two fields each.
    assert target_cells(2, 2, (2, 2), (2, 5), 1) == ((2, 5),)
    assert target_cells(3, 2, (2, 2), (2, 5), 2) == ((3, 5), (3, 6))
    assert target_cells(3, 3, (2, 2), (2, 5), 2) == ((3, 7), (3, 8))
    # An anchor cell moves the block: source row 2 lands on row 10.
    assert target_cells(2, 2, (2, 2), (10, 4), 1) == ((10, 4),)


@pytest.mark.parametrize(
    "target",
    [(2, 2, 5, 2), (5, 1, 9, 3), (1, 2, 2, 2)],
    ids=["same-column", "straddles-the-end", "touches-the-first-row"],
)
def test_a_target_overlapping_the_source_is_refused(target):
    with pytest.raises(RangeSpecError, match="overlaps"):
        check_no_overlap((2, 2, 5, 2), target, "B")


def test_a_target_beside_or_below_the_source_is_accepted():
    check_no_overlap((2, 2, 5, 2), (2, 3, 5, 3), "C")
    check_no_overlap((2, 2, 5, 2), (6, 2, 9, 2), "B6")
