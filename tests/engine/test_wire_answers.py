"""Answers as other servers and models shape them: each lands in its own cell or in none."""

from __future__ import annotations

import pytest

from excel_glm.engine.packing import read_pack_answer
from excel_glm.tasks import make_task

TRANSLATE = make_task("translate", {"to": "English"})
VALUES = [f"frase {n}" for n in range(6)]
EXPECTED = [f"[English] frase {n}" for n in range(6)]


@pytest.mark.parametrize(
    "shape", ["fenced", "prose", "think", "entries", "no_usage", "reasoning", "zero_based"]
)
async def test_every_answer_shape_lands_in_the_right_cells(make_engine, fake_glm, shape):
    fake_glm.inject(shape, times=None)
    result = await make_engine(pack_max_items=3).run(TRANSLATE, VALUES)
    assert [r.value for r in result.results] == EXPECTED


@pytest.mark.parametrize("shape", ["fenced", "prose", "think", "entries"])
async def test_readable_shapes_cost_no_extra_request(make_engine, fake_glm, shape):
    fake_glm.inject(shape, times=None)
    await make_engine(pack_max_items=3).run(TRANSLATE, VALUES)
    assert len(fake_glm.requests) == 2


async def test_ids_numbered_from_zero_are_never_trusted(make_engine, fake_glm):
    # {"0": a1, "1": a2} for items 1 and 2: taking "1" at its word would shift every answer.
    fake_glm.inject("zero_based", times=1)
    result = await make_engine(pack_max_items=3).run(TRANSLATE, VALUES[:3])
    assert [r.value for r in result.results] == EXPECTED[:3]
    assert len(fake_glm.requests) > 1


@pytest.mark.parametrize("shape", ["null_content", "no_choices"])
async def test_empty_answers_are_retried_until_answered(make_engine, fake_glm, shape):
    fake_glm.inject(shape, times=2)
    result = await make_engine(pack_max_items=3).run(TRANSLATE, VALUES)
    assert [r.value for r in result.results] == EXPECTED


async def test_answer_values_of_the_wrong_type_never_crash_or_shift(make_engine, fake_glm):
    odd = {"frase 1": 42, "frase 2": True, "frase 3": None, "frase 4": {"x": 1}, "frase 5": [1]}
    fake_glm.oracle = lambda params, text: odd.get(text, f"[English] {text}")
    result = await make_engine(pack_max_items=6).run(TRANSLATE, VALUES)
    assert [r.value for r in result.results[:3]] == ["[English] frase 0", "42", "TRUE"]
    assert all(r.error for r in result.results[3:])


async def test_lone_surrogate_in_an_answer_is_stored_not_a_crash(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: "smile \ud83d" if text == "b" else text
    engine = make_engine(pack_max_items=3)
    result = await engine.run(TRANSLATE, ["a", "b", "c"])
    assert [r.value for r in result.results] == ["a", "smile \ufffd", "c"]
    assert engine.cache.count() == 3


async def test_lone_surrogate_in_a_cell_errs_that_cell_only(make_engine, fake_glm):
    result = await make_engine().run(TRANSLATE, ["a", "bad \udc00", "pair \ud83d\ude00"])
    assert result.results[0].value == "[English] a"
    assert "not valid Unicode" in result.results[1].error
    assert result.results[2].value == "[English] pair \U0001f600"


async def test_extract_fields_named_differently_still_fill_the_right_columns(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: {"Full_Name": "Ann", "E-Mail": "ann@x.org"}
    task = make_task("extract", {"fields": "full name,email"})
    result = await make_engine().run(task, ["Ann, ann@x.org"])
    assert result.results[0].value == {"full name": "Ann", "email": "ann@x.org"}


async def test_extract_answer_with_none_of_the_fields_is_not_accepted(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: {"nombre": "Ann", "correo": "ann@x.org"}
    task = make_task("extract", {"fields": "name,email"})
    result = await make_engine().run(task, ["Ann, ann@x.org"])
    assert result.results[0].error == "the model gave no valid answer for this cell"


@pytest.mark.parametrize(
    "answer", ["Positive.", " POSITIVE ", "**positive**", "positive!", "Ｐｏｓｉｔｉｖｅ"]
)
async def test_classify_answers_are_normalised_to_the_label(make_engine, fake_glm, answer):
    fake_glm.oracle = lambda params, text: answer
    task = make_task("classify", {"labels": "positive,negative"})
    result = await make_engine().run(task, ["great"])
    assert result.results[0].value == "positive"


async def test_multi_label_answer_as_one_delimited_string(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: "Bug; feature"
    task = make_task("classify", {"labels": "billing,bug,feature", "multi_label": True})
    result = await make_engine().run(task, ["crash"])
    assert result.results[0].value == "bug, feature"


# -- read_pack_answer, the pure part ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('Sure! {"1": "a", "2": "b"} Hope this helps.', {0: "a", 1: "b"}),
        ('<think>{"1": "wrong"}</think>{"1": "a"}', {0: "a"}),
        ('reasoning about {"1": "x"}...</think>\n{"1": "a"}', {0: "a"}),
        ('{"1": "<think> stays", "2": "b"}', {0: "<think> stays", 1: "b"}),
        ('{"results": [{"id": 2, "answer": "b"}, {"id": "1", "answer": "a"}]}', {0: "a", 1: "b"}),
        ('{"answers": {"1": "a", "2": "b"}}', {0: "a", 1: "b"}),
        ('[{"id": "1", "translation": "a"}, {"id": 2, "translation": "b"}]', {0: "a", 1: "b"}),
        ('{"01": "a", "#2": "b"}', {0: "a", 1: "b"}),
        ('{"1": "a", "1": "a", "2": "b"}', {0: "a", 1: "b"}),
        ('{"0": "a", "1": "b"}', {}),
        ('[{"id": 0, "answer": "a"}, {"id": 1, "answer": "b"}]', {}),
        ('{"1": "a", "2": "b", "0": "c"}', {}),
        ('["a", "b"]', {}),
        ('"only"', {}),
        ('{"1": "caf\\u00e9", "2": "\\ud83d\\ude00"}', {0: "café", 1: "\U0001f600"}),
        ('{"1": "broken \\ud83d", "2": "b"}', {0: "broken \ufffd", 1: "b"}),
    ],
)
def test_read_answer_shapes(content, expected):
    assert read_pack_answer(content, 2) == expected


def test_read_answer_takes_a_bare_string_only_for_a_lone_cell():
    assert read_pack_answer('"Hello"', 1) == {0: "Hello"}
    assert read_pack_answer("Hello", 1) == {}


def test_read_answer_inline_extract_entries_keep_their_fields():
    content = '[{"id": 1, "name": "Ann", "email": "a@x"}, {"id": 2, "name": "Bo", "email": ""}]'
    assert read_pack_answer(content, 2) == {
        0: {"name": "Ann", "email": "a@x"},
        1: {"name": "Bo", "email": ""},
    }


def test_read_answer_of_a_huge_garbled_answer_is_quick_and_empty():
    assert read_pack_answer("{" * 100_000, 3) == {}


async def test_a_fifth_of_requests_bent_every_new_way_loses_nothing(make_engine, fake_glm):
    kinds = ["fenced", "prose", "think", "entries", "zero_based", "null_content", "no_choices"]
    kinds += ["no_usage", "reasoning", "close", "1231", "duplicate_id", "missing_id"]
    for seed, kind in enumerate(kinds):
        fake_glm.inject(kind, times=None, probability=0.2 / len(kinds), seed=seed)
    fake_glm.inject("1305", times=None, probability=0.02, envelope="in_message", seed=99)
    fake_glm.inject("1302", times=None, probability=0.02, envelope="flat", status=200, seed=98)
    fake_glm.inject("html", times=None, probability=0.02, status=502, seed=97)
    values = [f"celda {n % 120}" for n in range(240)]
    result = await make_engine(pack_max_items=8, concurrency=4).run(TRANSLATE, values)
    assert [r.value for r in result.results] == [f"[English] {v}" for v in values]
    assert len({r.fault for r in fake_glm.requests}) > 5
