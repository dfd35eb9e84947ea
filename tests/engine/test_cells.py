"""The input conversion rule: one pure function, never raising."""

from __future__ import annotations

import datetime as dt

import pytest

from excel_glm.cells import cell_text, convert_cell


@pytest.mark.parametrize("value", [None, "", "   ", "\n\t", float("nan")])
def test_blank_values_are_blank(value):
    assert convert_cell(value).blank


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Hola", "Hola"),
        ("  padded  ", "  padded  "),
        (True, "TRUE"),
        (False, "FALSE"),
        (3, "3"),
        (3.0, "3"),
        (-0.5, "-0.5"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (12345678901234567890, "12345678901234567890"),
        (dt.datetime(2026, 11, 26, 9, 30), "2026-11-26T09:30:00"),
        (dt.date(2026, 11, 26), "2026-11-26"),
        (dt.time(9, 30, 5), "09:30:05"),
    ],
)
def test_values_convert_to_documented_text(value, text):
    assert cell_text(value) == text
    assert convert_cell(value).text == text


@pytest.mark.parametrize("error", ["#N/A", "#VALUE!", "#DIV/0!", "#SPILL!", "#GETTING_DATA"])
def test_excel_error_values_become_cell_errors(error):
    cell = convert_cell(error)
    assert cell.text is None
    assert cell.error == f"input is an Excel error: {error}"


def test_text_over_excel_cell_limit_is_an_error_not_a_cut():
    cell = convert_cell("x" * 32_768)
    assert cell.text is None and "32,767" in cell.error
    assert convert_cell("x" * 32_767).text == "x" * 32_767


def test_a_value_whose_str_fails_is_an_error_not_a_crash():
    class Broken:
        def __str__(self):
            raise RuntimeError("boom")

    assert convert_cell(Broken()).error.startswith("input could not be read as text")
