"""The Python API and the pandas accessor, against the fake GLM server."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

import excel_glm
from excel_glm.errors import AuthenticationError, CellErrors


@pytest.fixture
def settings(make_settings):
    return make_settings()


def test_translate_returns_one_answer_per_value_in_order(settings, fake_glm):
    answers = excel_glm.translate(["hola", None, "adiós"], to="English", settings=settings)
    assert answers == ["[English] hola", None, "[English] adiós"]


def test_translate_passes_source_and_glossary(settings, fake_glm):
    excel_glm.translate(["hola"], "English", "Spanish", {"hola": "hi"}, settings=settings)
    system = fake_glm.requests[0].body["messages"][0]["content"]
    assert "from Spanish" in system and "hola -> hi" in system


def test_a_single_string_gives_a_single_answer(settings, fake_glm):
    assert excel_glm.translate("hola", to="German", settings=settings) == "[German] hola"


def test_classify_extract_and_ask(settings, fake_glm):
    assert excel_glm.classify(["bad day", "ok"], ["good", "bad"], settings=settings) == [
        "bad",
        "good",
    ]
    assert excel_glm.extract(["Bo: bo@x.org"], ["name", "email"], settings=settings) == [
        {"name": "Bo", "email": "bo@x.org"}
    ]
    assert excel_glm.ask(["why"], "Explain", settings=settings) == ["[Explain] why"]


def test_cell_errors_raise_with_every_answer_kept(settings, fake_glm):
    with pytest.raises(CellErrors) as caught:
        excel_glm.translate(["hola", "#N/A", "adiós"], to="English", settings=settings)
    assert caught.value.values == ["[English] hola", None, "[English] adiós"]
    assert caught.value.errors == {1: "input is an Excel error: #N/A"}


def test_on_error_none_returns_none_and_warns(settings, fake_glm):
    with pytest.warns(UserWarning, match="1 cell"):
        answers = excel_glm.translate(
            ["#N/A", "hola"], "English", settings=settings, on_error="none"
        )
    assert answers == [None, "[English] hola"]


def test_fatal_errors_raise_as_such(make_settings, fake_glm):
    with pytest.raises(AuthenticationError):
        excel_glm.translate(["hola"], "English", settings=make_settings(api_key="bad.key"))


async def test_sync_api_works_inside_a_running_event_loop(settings, fake_glm):
    assert asyncio.get_running_loop()
    assert excel_glm.translate(["hola"], to="English", settings=settings) == ["[English] hola"]


def test_pandas_accessor_keeps_the_index(settings, fake_glm):
    import excel_glm.pandas  # noqa: F401

    series = pd.Series(["hola", None, "adiós"], index=["r1", "r2", "r3"], name="review")
    translated = series.glm.translate("English", settings=settings)
    assert list(translated.index) == ["r1", "r2", "r3"] and translated.name == "review"
    assert translated.tolist() == ["[English] hola", None, "[English] adiós"]
    labels = series.glm.classify("hola,adiós", settings=settings)
    assert labels.tolist() == ["hola", None, "adiós"]


def test_pandas_extract_gives_one_column_per_field(settings, fake_glm):
    import excel_glm.pandas  # noqa: F401

    series = pd.Series(["Ann ann@a.io", float("nan")], index=[10, 20])
    frame = series.glm.extract("name,email", settings=settings)
    assert list(frame.columns) == ["name", "email"] and list(frame.index) == [10, 20]
    assert frame.loc[10].tolist() == ["Ann", "ann@a.io"]
    assert frame.loc[20].isna().all()
