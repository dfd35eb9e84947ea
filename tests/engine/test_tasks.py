"""Task parameters, instructions and answer validation."""

from __future__ import annotations

import pytest

from excel_glm.errors import TaskError
from excel_glm.tasks import PARAMS_MARKER, TASK_NAMES, make_task


def test_task_names_are_the_four_tasks():
    assert set(TASK_NAMES) == {"translate", "classify", "extract", "ask"}


def test_translate_params_accept_glossary_text_and_mapping():
    from_text = make_task("translate", {"to": "English", "from": "French", "glossary": "a=b; c=d"})
    from_map = make_task(
        "translate", {"to": "English", "from": "French", "glossary": {"a": "b", "c": "d"}}
    )
    assert from_text == from_map
    assert from_text.to == "English" and from_text.source == "French"
    assert from_text.glossary == (("a", "b"), ("c", "d"))
    assert from_text.params() == {
        "to": "English",
        "from": "French",
        "glossary": {"a": "b", "c": "d"},
    }


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("translate", {}, "'to'"),
        ("translate", {"to": "English", "glossary": "nonsense"}, "glossary"),
        ("classify", {"labels": ""}, "label"),
        ("classify", {"labels": "a,A"}, "repeat"),
        ("classify", {"labels": "positive"}, "at least two labels"),
        ("extract", {"fields": []}, "field"),
        ("classify", {"labels": "a,b", "colour": "red"}, "colour"),
        ("summarise", {}, "unknown task"),
        ("classify", {"labels": "a,b", "multi_label": "maybe"}, "multi_label"),
    ],
)
def test_bad_params_raise_one_clear_task_error(name, params, fragment):
    with pytest.raises(TaskError, match=fragment):
        make_task(name, params)


def test_one_label_is_enough_when_several_may_apply():
    assert make_task("classify", {"labels": "urgent", "multi_label": True}).labels == ("urgent",)


def test_instruction_is_byte_identical_and_ends_with_parameters():
    first = make_task("classify", {"labels": "pos, neg"}).instruction()
    again = make_task("classify", {"labels": ["pos", "neg"]}).instruction()
    assert first == again
    assert (
        first.rstrip().splitlines()[-1]
        == PARAMS_MARKER + '{"task": "classify", "labels": ["pos", "neg"]}'
    )


def test_classify_normalises_case_and_whitespace_to_the_given_label():
    task = make_task("classify", {"labels": "Very Good,bad"})
    assert task.validate("  very   good ") == "Very Good"
    assert task.validate("BAD.") == "bad"
    assert task.validate("neutral") is None
    assert task.validate(["bad"]) is None


def test_multi_label_keeps_label_order_and_rejects_unknown_labels():
    task = make_task("classify", {"labels": "a,b,c", "multi_label": True})
    assert task.validate(["c", "A"]) == "a, c"
    assert task.validate([]) == ""
    assert task.validate(["a", "z"]) is None


def test_extract_returns_exactly_the_requested_fields():
    task = make_task("extract", {"fields": "name,email"})
    assert task.fields == ("name", "email")
    answer = task.validate({"Name": "Ann", "phone": "123"})
    assert answer == {"name": "Ann", "email": ""}
    assert task.validate("Ann") is None


def test_ask_with_empty_prompt_makes_each_cell_its_own_prompt():
    task = make_task("ask", {"prompt": ""})
    assert task.prompt == ""
    assert "each text is a question" in task.instruction()
    assert task.validate(42) == "42"
    assert task.validate("  ") is None


def test_translate_rejects_empty_answers():
    task = make_task("translate", {"to": "German"})
    assert task.validate("Hallo") == "Hallo"
    assert task.validate("") is None
    assert task.validate({"text": "Hallo"}) is None
