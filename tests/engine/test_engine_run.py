"""Engine.run end to end against the fake GLM server: order, dedup, blanks, cache, usage."""

from __future__ import annotations

import asyncio
import json

import pytest

from excel_glm.errors import RunCancelled
from excel_glm.tasks import make_task

TRANSLATE = make_task("translate", {"to": "English"})


async def test_results_follow_input_order_across_packs(make_engine, fake_glm):
    engine = make_engine(pack_max_items=3, concurrency=4)
    values = [f"texto {n}" for n in range(17)]
    result = await engine.run(TRANSLATE, values)
    assert [r.value for r in result.results] == [f"[English] texto {n}" for n in range(17)]
    assert len(fake_glm.requests) == 6


async def test_duplicates_are_sent_once_and_answered_everywhere(make_engine, fake_glm):
    engine = make_engine()
    result = await engine.run(TRANSLATE, ["hola", "adiós", "hola", "hola"])
    assert sorted(fake_glm.items_sent()) == ["adiós", "hola"]
    assert [r.value for r in result.results] == ["[English] hola", "[English] adiós"] + [
        "[English] hola"
    ] * 2
    assert result.usage.cells == 4 and result.usage.distinct == 2


async def test_blanks_and_excel_errors_cost_no_call(make_engine, fake_glm):
    engine = make_engine()
    result = await engine.run(TRANSLATE, [None, "  ", "#N/A", 3.0, True])
    assert [r.value for r in result.results] == [None, None, None, "[English] 3", "[English] TRUE"]
    assert [r.error for r in result.results][:3] == [None, None, "input is an Excel error: #N/A"]
    assert sorted(fake_glm.items_sent()) == ["3", "TRUE"]


async def test_all_blank_input_makes_no_request(make_engine, fake_glm):
    result = await make_engine().run(TRANSLATE, [None, "", "#REF!"])
    assert fake_glm.requests == []
    assert result.results[2].error == "input is an Excel error: #REF!"


async def test_oversize_input_is_an_error_for_that_cell_only(make_engine, fake_glm):
    result = await make_engine().run(TRANSLATE, ["x" * 40_000, "ok"])
    assert "32,767" in result.results[0].error
    assert result.results[1].value == "[English] ok"
    assert fake_glm.items_sent() == ["ok"]


async def test_oversize_output_is_an_error_not_a_cut(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: text + text if text.startswith("long") else text
    result = await make_engine().run(TRANSLATE, ["long" + "y" * 20_000, "short"])
    assert result.results[0].value is None and "32,767" in result.results[0].error
    assert result.results[1].value == "short"


async def test_rerun_is_answered_from_the_cache_without_requests(make_engine, fake_glm):
    values = [f"t{n % 7}" for n in range(30)]
    first = await make_engine().run(TRANSLATE, values)
    sent = len(fake_glm.requests)
    again = await make_engine().run(TRANSLATE, values)
    assert len(fake_glm.requests) == sent
    assert [r.value for r in again.results] == [r.value for r in first.results]
    assert all(r.cached for r in again.results)
    assert again.usage.cache_hits == 7 and again.usage.requests == 0


async def test_cache_key_covers_task_params(make_engine, fake_glm):
    await make_engine().run(TRANSLATE, ["hola"])
    german = await make_engine().run(make_task("translate", {"to": "German"}), ["hola"])
    assert german.results[0].value == "[German] hola"
    assert len(fake_glm.requests) == 2


async def test_classify_extract_and_ask_answers_are_validated(make_engine, fake_glm):
    engine = make_engine()
    classify = make_task("classify", {"labels": "positive,negative"})
    labels = await engine.run(classify, ["so negative", "fine"])
    assert [r.value for r in labels.results] == ["negative", "positive"]
    extract = make_task("extract", {"fields": "name,email"})
    fields = await engine.run(extract, ["Ann at ann@example.com"])
    assert fields.results[0].value == {"name": "Ann", "email": "ann@example.com"}
    ask = make_task("ask", {"prompt": "Summarise"})
    asked = await engine.run(ask, ["long story"])
    assert asked.results[0].value == "[Summarise] long story"


async def test_invalid_labels_are_resent_then_become_a_cell_error(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: "maybe" if "odd" in text else "yes"
    task = make_task("classify", {"labels": "yes,no"})
    result = await make_engine().run(task, ["odd one", "plain", "other"])
    assert result.results[0].error == "the model gave no valid answer for this cell"
    assert [r.value for r in result.results[1:]] == ["yes", "yes"]


async def test_request_carries_glm_bulk_fields(make_engine, fake_glm):
    await make_engine().run(TRANSLATE, ["hola"])
    body = fake_glm.requests[0].body
    assert body["thinking"] == {"type": "disabled"}
    assert body["do_sample"] is False and body["stream"] is False
    assert body["response_format"] == {"type": "json_object"}
    assert 6 <= len(body["request_id"]) <= 64
    assert body["max_tokens"] < 200  # sized to the expected answer, not the model's maximum
    items = json.loads(body["messages"][1]["content"])["items"]
    assert items == [{"id": "1", "text": "hola"}]
    assert fake_glm.requests[0].headers["authorization"] == f"Bearer {fake_glm.api_key}"


async def test_instruction_is_identical_across_packs_and_earns_cached_tokens(make_engine, fake_glm):
    fake_glm.cache_block_tokens = 64
    result = await make_engine(pack_max_items=2, concurrency=1).run(TRANSLATE, list("abcdef"))
    systems = {r.body["messages"][0]["content"] for r in fake_glm.requests}
    assert len(systems) == 1
    assert result.usage.cached_tokens > 0


async def test_usage_counts_tokens_requests_and_cost(make_engine, fake_glm):
    fake_glm.inject("1234")
    result = await make_engine().run(TRANSLATE, ["hola", "bonjour"])
    usage = result.usage
    assert usage.requests == 2
    answered = [r for r in fake_glm.requests if r.status == 200]
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    expected = (usage.prompt_tokens - usage.cached_tokens) * 1.0 + usage.cached_tokens * 0.2
    expected += usage.completion_tokens * 3.2
    assert usage.cost == pytest.approx(expected / 1e6)
    assert len(answered) == 1


async def test_unknown_model_price_is_zero(make_engine, fake_glm):
    result = await make_engine(model="glm-4.6").run(TRANSLATE, ["hola"])
    assert result.usage.cost > 0
    from excel_glm.engine.pricing import cost_usd

    assert cost_usd("glm-99", 1000, 0, 1000) == 0.0


async def test_progress_reaches_the_total(make_engine, fake_glm):
    seen = []
    values = [f"v{n}" for n in range(12)] + [None, "v1"]
    await make_engine(pack_max_items=4).run(TRANSLATE, values, on_progress=seen.append)
    assert seen[-1].done == seen[-1].total == 13
    assert [p.done for p in seen] == sorted(p.done for p in seen)


async def test_estimate_calls_nothing_and_counts_cache_hits(make_engine, fake_glm):
    engine = make_engine()
    await engine.run(TRANSLATE, ["a"])
    sent = len(fake_glm.requests)
    estimate = engine.estimate(TRANSLATE, ["a", "b", "b", None, "c"])
    assert len(fake_glm.requests) == sent
    assert (estimate.cells, estimate.distinct, estimate.cache_hits) == (4, 3, 1)
    assert estimate.prompt_tokens > 0 and estimate.completion_tokens > 0 and estimate.cost > 0


async def test_cancel_stops_the_run_and_keeps_answers_received(make_engine, fake_glm):
    fake_glm.set_latency(base_ms=150)
    cancel = asyncio.Event()
    engine = make_engine(pack_max_items=1, concurrency=1)
    values = [f"c{n}" for n in range(20)]

    async def cancel_soon():
        await asyncio.sleep(0.4)
        cancel.set()

    canceller = asyncio.ensure_future(cancel_soon())
    with pytest.raises(RunCancelled):
        await engine.run(TRANSLATE, values, cancel=cancel)
    await canceller
    stored = engine.cache.count()
    assert 1 <= stored < 20
