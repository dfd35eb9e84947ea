"""Packing is pure: sizes, ids, and reading answers back safely."""

from __future__ import annotations

import json

from excel_glm.engine.packing import (
    WorkItem,
    pack_cells,
    pack_request,
    read_pack_answer,
    split_pack,
)


def items(*sizes: int) -> list[WorkItem]:
    return [
        WorkItem(key=f"k{n}", text=f"t{n}", expected_tokens=size) for n, size in enumerate(sizes)
    ]


def test_packs_hold_at_most_max_items():
    packs = pack_cells(items(*[5] * 23), max_items=10, max_output_tokens=10_000)
    assert [len(p) for p in packs] == [10, 10, 3]


def test_packs_are_sized_by_expected_output_tokens():
    packs = pack_cells(items(100, 100, 100, 100), max_items=10, max_output_tokens=250)
    assert [len(p) for p in packs] == [2, 2]


def test_an_item_bigger_than_the_budget_travels_alone_in_order():
    work = items(10, 5000, 10)
    packs = pack_cells(work, max_items=10, max_output_tokens=100)
    assert packs == [[work[0]], [work[1]], [work[2]]]


def test_split_pack_halves_and_keeps_order():
    work = items(1, 1, 1, 1, 1)
    assert split_pack(work) == [work[:3], work[3:]]


def test_pack_request_numbers_items_and_asks_for_json():
    work = items(4, 4)
    request = pack_request("INSTRUCTION", work)
    assert request.messages[0] == {"role": "system", "content": "INSTRUCTION"}
    body = json.loads(request.messages[1]["content"])
    assert body == {"items": [{"id": "1", "text": "t0"}, {"id": "2", "text": "t1"}]}
    assert request.json_mode and request.max_tokens >= 2 * 4


def test_read_answer_maps_ids_to_positions():
    assert read_pack_answer('{"2": "b", "1": "a"}', 2) == {0: "a", 1: "b"}


def test_read_answer_ignores_extra_and_reports_missing_ids():
    assert read_pack_answer('{"1": "a", "999": "x"}', 2) == {0: "a"}


def test_read_answer_trusts_neither_copy_of_a_duplicated_id():
    assert read_pack_answer('{"1": "a", "2": "b", "1": "WRONG"}', 2) == {1: "b"}


def test_read_answer_tolerates_code_fences_and_the_list_shape():
    assert read_pack_answer('```json\n{"1": "a"}\n```', 1) == {0: "a"}
    listed = '{"items": [{"id": "1", "answer": "a"}, {"id": 2, "answer": "b"}]}'
    assert read_pack_answer(listed, 2) == {0: "a", 1: "b"}


def test_read_answer_of_non_json_or_truncated_content_is_empty():
    assert read_pack_answer("Sure! Here you go", 1) == {}
    assert read_pack_answer('{"1": "a", "2": "b', 2) == {}
    assert read_pack_answer('["a", "b"]', 2) == {}


def test_packs_are_capped_by_cell_text_size_too():
    work = [WorkItem(key=f"k{n}", text="x" * 40_000, expected_tokens=5) for n in range(3)]
    packs = pack_cells(work, max_items=10, max_output_tokens=10_000, max_input_tokens=15_000)
    assert [len(p) for p in packs] == [1, 1, 1]
