"""Every fault class of the fake GLM server: retried, split, isolated or fatal, never misplaced."""

from __future__ import annotations

import pytest

from excel_glm.errors import (
    AuthenticationError,
    FatalProviderError,
    InsufficientBalanceError,
    QuotaExceededError,
)
from excel_glm.tasks import make_task

TRANSLATE = make_task("translate", {"to": "English"})
VALUES = [f"frase {n}" for n in range(8)]
EXPECTED = [f"[English] frase {n}" for n in range(8)]


@pytest.mark.parametrize(
    "fault",
    [
        "1302",
        "1305",
        "1234",
        "1200",
        "503_html",
        "503_empty",
        "drop",
        "network_error",
        "truncated",
        "non_json",
        "missing_id",
        "extra_id",
        "duplicate_id",
        "length",
        "context_exceeded",
    ],
)
async def test_recoverable_fault_loses_and_shifts_nothing(make_engine, fake_glm, fault):
    fake_glm.inject(fault, times=2)
    result = await make_engine(pack_max_items=4).run(TRANSLATE, VALUES)
    assert [r.value for r in result.results] == EXPECTED
    assert [r.fault for r in fake_glm.requests].count(fault) == 2


async def test_slow_answer_past_the_timeout_is_retried(make_engine, fake_glm):
    fake_glm.inject("slow", delay=1.0)
    result = await make_engine(request_timeout_s=0.3).run(TRANSLATE, ["hola"])
    assert result.results[0].value == "[English] hola"
    assert len(fake_glm.requests) == 2


async def test_each_attempt_gets_a_fresh_request_id(make_engine, fake_glm):
    fake_glm.inject("1305", times=2)
    await make_engine().run(TRANSLATE, ["hola"])
    ids = [r.body["request_id"] for r in fake_glm.requests]
    assert len(ids) == 3 and len(set(ids)) == 3


async def test_persistent_retryable_failure_errors_the_cells_after_max_attempts(
    make_engine, fake_glm
):
    fake_glm.inject("1234", times=None)
    result = await make_engine(max_attempts=3).run(TRANSLATE, ["a", "b"])
    assert len(fake_glm.requests) == 3
    assert all("no answer after 3 attempts" in r.error for r in result.results)
    assert all("1234" in r.error for r in result.results)


async def test_content_filter_fails_only_the_offending_cell(make_engine, fake_glm):
    fake_glm.inject("1301", times=None, match="FORBIDDEN")
    values = ["a", "b", "FORBIDDEN c", "d", "e"]
    result = await make_engine(pack_max_items=5).run(TRANSLATE, values)
    assert result.results[2].error == "the provider's content filter blocked this cell"
    others = [r.value for i, r in enumerate(result.results) if i != 2]
    assert others == ["[English] a", "[English] b", "[English] d", "[English] e"]


async def test_finish_reason_sensitive_fails_only_the_offending_cell(make_engine, fake_glm):
    fake_glm.inject("sensitive", times=None, match="FORBIDDEN")
    result = await make_engine(pack_max_items=4).run(TRANSLATE, ["a", "FORBIDDEN", "c", "d"])
    assert [r.error is not None for r in result.results] == [False, True, False, False]


async def test_a_cell_whose_answer_never_parses_errs_alone(make_engine, fake_glm):
    fake_glm.inject("non_json", times=None, match="POISON")
    result = await make_engine(pack_max_items=6).run(TRANSLATE, ["a", "b", "POISON", "d"])
    assert result.results[2].error == "the model gave no valid answer for this cell"
    assert [r.value for r in result.results[:2]] == ["[English] a", "[English] b"]


async def test_missing_ids_are_resent_in_smaller_packs(make_engine, fake_glm):
    fake_glm.inject("missing_id", times=1)
    await make_engine(pack_max_items=8).run(TRANSLATE, VALUES)
    sizes = [len(r.body["messages"][1]["content"].split('"id"')) - 1 for r in fake_glm.requests]
    assert sizes == [8, 1]


async def test_answer_too_long_for_max_tokens_is_split_then_given_more_room(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: text * 3  # three times longer than the engine expects
    result = await make_engine(pack_max_items=4).run(TRANSLATE, ["abcd " * 20, "efgh " * 20])
    assert [r.value for r in result.results] == ["abcd " * 60, "efgh " * 60]
    finishes = [r.body["max_tokens"] for r in fake_glm.requests]
    assert max(finishes) > min(finishes)  # a single cell was retried with a larger max_tokens


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("1000", AuthenticationError),
        ("1113", InsufficientBalanceError),
        ("1304", QuotaExceededError),
        ("1211", FatalProviderError),
        ("1261", FatalProviderError),
    ],
)
async def test_fatal_error_stops_the_run_at_once(make_engine, fake_glm, code, error_type):
    fake_glm.inject(code, times=None)
    values = [f"v{n}" for n in range(60)]
    with pytest.raises(error_type) as caught:
        await make_engine(pack_max_items=2, concurrency=2).run(TRANSLATE, values)
    assert len(fake_glm.requests) <= 2  # no retries, no further packs
    assert code in str(caught.value)
    assert caught.value.code == code


async def test_wrong_key_is_one_clear_message_without_the_key(make_engine, fake_glm):
    secret = "leaky-id.very-secret-value"
    engine = make_engine(api_key=secret)
    with pytest.raises(AuthenticationError) as caught:
        await engine.run(TRANSLATE, [f"v{n}" for n in range(30)])
    message = str(caught.value)
    assert secret not in message and "very-secret" not in message
    assert "API key" in message and "EXCEL_GLM_API_KEY" in message
    assert "\n" not in message


async def test_answers_received_before_a_fatal_error_are_cached(make_engine, fake_glm):
    fake_glm.inject("1113", times=None, match="v15")
    engine = make_engine(pack_max_items=5, concurrency=1)
    with pytest.raises(InsufficientBalanceError):
        await engine.run(TRANSLATE, [f"v{n}" for n in range(30)])
    assert engine.cache.count() == 15


async def test_unknown_model_is_fatal(make_engine, fake_glm):
    with pytest.raises(FatalProviderError, match="1211"):
        await make_engine(model="glm-nope").run(TRANSLATE, ["hola"])


async def test_twenty_percent_faults_lose_nothing(make_engine, fake_glm):
    kinds = ["1302", "1305", "1234", "503_html", "drop", "network_error", "truncated"]
    kinds += ["non_json", "missing_id", "extra_id", "duplicate_id", "length"]
    for seed, kind in enumerate(kinds):
        fake_glm.inject(kind, times=None, probability=0.2 / len(kinds), seed=seed)
    values = [f"cell {n % 150}" for n in range(300)]
    result = await make_engine(pack_max_items=10, concurrency=4).run(TRANSLATE, values)
    assert [r.value for r in result.results] == [f"[English] {v}" for v in values]
    assert any(r.fault for r in fake_glm.requests)


async def test_retry_after_header_is_honoured(make_engine, fake_glm):
    import time

    fake_glm.retry_after = 0.3
    fake_glm.inject("1302")
    start = time.perf_counter()
    result = await make_engine().run(TRANSLATE, ["hola"])
    assert time.perf_counter() - start >= 0.3
    assert result.results[0].value == "[English] hola"


async def test_a_readable_but_invalid_answer_is_not_retried_at_length(make_engine, fake_glm):
    fake_glm.oracle = lambda params, text: "maybe"
    task = make_task("classify", {"labels": "yes,no"})
    result = await make_engine().run(task, ["one"])
    assert result.results[0].error == "the model gave no valid answer for this cell"
    assert len(fake_glm.requests) == 2


async def test_the_key_reaches_no_log_line(make_engine, fake_glm, caplog):
    import logging

    secret = "logged-id.logged-secret"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError):
        await make_engine(api_key=secret, model="glm-4.6").run(TRANSLATE, ["hola"])
    fake_glm.inject("1305", times=3)
    await make_engine(model="glm-4.6").run(TRANSLATE, ["hola"])
    assert caplog.records  # httpx logs every request at INFO: the check below has teeth
    assert "logged-secret" not in caplog.text and fake_glm.api_key not in caplog.text
