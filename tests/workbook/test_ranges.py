"""A1 ranges and --into targets."""

from __future__ import annotations

import pytest

from excel_glm.errors import RangeSpecError
from excel_glm.workbook.ranges import (
    A1Range,
    column_index,
    column_letter,
    parse_range,
    parse_target,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Sheet1!B2:B10001", A1Range("Sheet1", 2, 2, 2, 10001)),
        ("'My Sheet'!B2:B9", A1Range("My Sheet", 2, 2, 2, 9)),
        ("'It''s'!B:B", A1Range("It's", 2, 1, 2, None)),
        ("B2:B10", A1Range(None, 2, 2, 2, 10)),
        ("B:B", A1Range(None, 2, 1, 2, None)),
        ("B2", A1Range(None, 2, 2, 2, 2)),
        ("$b$2:$c$4", A1Range(None, 2, 2, 3, 4)),
        ("Données!A:C", A1Range("Données", 1, 1, 3, None)),
        ("'a!b'!C3", A1Range("a!b", 3, 3, 3, 3)),
    ],
)
def test_parse_range_accepts_the_forms_people_type(spec, expected):
    assert parse_range(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "B",
        "B2:",
        "2:5",
        "B10:B2",
        "C2:A5",
        "XFE1",
        "A1048577",
        "'open!B2",
        "x[y]!A1",
        "Sheet1!",
        "B2:C",
        "!B2",
        "'Sheet'B2",
    ],
)
def test_parse_range_refuses_malformed_specs_with_one_error(spec):
    with pytest.raises(RangeSpecError):
        parse_range(spec)


def test_column_letters_round_trip_over_the_whole_grid():
    for index in (1, 26, 27, 52, 702, 703, 16384):
        assert column_index(column_letter(index)) == index
    assert column_letter(28) == "AB"
    assert column_index("xfd") == 16384


@pytest.mark.parametrize("bad", ["", "A1", "XFE", "ÄB", "ABCD"])
def test_column_index_refuses_non_columns(bad):
    with pytest.raises(RangeSpecError):
        column_index(bad)


def test_column_letter_refuses_out_of_grid_numbers():
    with pytest.raises(RangeSpecError):
        column_letter(16385)
    with pytest.raises(RangeSpecError):
        column_letter(0)


def test_target_column_starts_at_the_sources_first_row():
    source = parse_range("Reviews!B5:B100")
    assert parse_target("C", source) == (5, 3)
    assert parse_target("$d", source) == (5, 4)


def test_target_cell_is_its_own_anchor():
    assert parse_target("C7", parse_range("B2:B9")) == (7, 3)


@pytest.mark.parametrize("bad", ["", "3", "C5:C9", "Other!C", "C-1"])
def test_target_refuses_what_is_not_a_column_or_cell(bad):
    with pytest.raises(RangeSpecError):
        parse_target(bad, parse_range("B2:B9"))


def test_range_prints_back_as_a1():
    assert str(parse_range("'My Sheet'!B2:C9")) == "'My Sheet'!B2:C9"
    assert str(parse_range("B:B")) == "B:B"
