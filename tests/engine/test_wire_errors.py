"""Error answers as other GLM look-alikes send them: every envelope, header and fatal code."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from excel_glm.errors import (
    AuthenticationError,
    FatalProviderError,
    InsufficientBalanceError,
    QuotaExceededError,
)
from excel_glm.tasks import make_task

TRANSLATE = make_task("translate", {"to": "English"})
VALUES = [f"frase {n}" for n in range(6)]
EXPECTED = [f"[English] frase {n}" for n in range(6)]


@pytest.mark.parametrize("envelope", ["nested", "int", "flat", "in_message"])
async def test_overload_in_any_envelope_is_retried(make_engine, fake_glm, envelope):
    fake_glm.inject("1305", times=2, envelope=envelope)
    result = await make_engine(pack_max_items=3).run(TRANSLATE, VALUES)
    assert [r.value for r in result.results] == EXPECTED


@pytest.mark.parametrize("envelope", ["nested", "int", "flat", "in_message"])
async def test_empty_balance_in_any_envelope_stops_at_once(make_engine, fake_glm, envelope):
    fake_glm.inject("1113", times=None, envelope=envelope)
    with pytest.raises(InsufficientBalanceError) as caught:
        await make_engine(pack_max_items=3, concurrency=1).run(TRANSLATE, VALUES)
    assert len(fake_glm.requests) == 1  # a 429 that is not a rate limit: never retried
    assert caught.value.code == "1113"


@pytest.mark.parametrize("envelope", ["nested", "flat", "in_message"])
async def test_error_envelope_inside_a_200_answer_is_classified(make_engine, fake_glm, envelope):
    fake_glm.inject("1302", times=1, envelope=envelope, status=200)
    fake_glm.inject("1113", times=1, envelope=envelope, status=200)
    with pytest.raises(InsufficientBalanceError):
        await make_engine(concurrency=1).run(TRANSLATE, ["hola"])
    assert [r.fault for r in fake_glm.requests] == ["1302", "1113"]


async def test_200_error_envelope_without_a_code_is_retried_not_fatal(make_engine, fake_glm):
    fake_glm.inject("1234", times=1, envelope="openai", status=200)
    result = await make_engine().run(TRANSLATE, ["hola"])
    assert result.results[0].value == "[English] hola"


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_with_an_html_body_is_one_clear_message(make_engine, fake_glm, status):
    fake_glm.inject("html", times=None, status=status)
    with pytest.raises(AuthenticationError) as caught:
        await make_engine(concurrency=3, pack_max_items=2).run(TRANSLATE, VALUES)
    assert "EXCEL_GLM_API_KEY" in str(caught.value) and "<html" not in str(caught.value)
    assert len(fake_glm.requests) <= 3


async def test_401_with_code_401_envelope_is_an_auth_error(make_engine, fake_glm):
    fake_glm.inject("401", times=None)
    with pytest.raises(AuthenticationError):
        await make_engine().run(TRANSLATE, ["hola"])


@pytest.mark.parametrize("status", [502, 504])
async def test_gateway_html_pages_are_retried(make_engine, fake_glm, status):
    fake_glm.inject("html", times=2, status=status)
    result = await make_engine().run(TRANSLATE, ["hola"])
    assert result.results[0].value == "[English] hola"


async def test_retry_after_as_an_http_date_is_honoured(make_engine, fake_glm):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    fake_glm.inject("1302", headers={"Retry-After": when})
    start = time.perf_counter()
    result = await make_engine().run(TRANSLATE, ["hola"])
    # The date has a one-second resolution: at least one second must have been waited.
    assert time.perf_counter() - start >= 0.9
    assert result.results[0].value == "[English] hola"


async def test_x_should_retry_false_fails_the_cells_without_retrying(make_engine, fake_glm):
    fake_glm.inject("1234", times=None, match="frase 1", headers={"x-should-retry": "false"})
    result = await make_engine(pack_max_items=1).run(TRANSLATE, VALUES[:3])
    assert [r.ok for r in result.results] == [True, False, True]
    assert "1234" in result.results[1].error
    assert [r.fault for r in fake_glm.requests].count("1234") == 1


async def test_x_should_retry_true_retries_a_generic_client_error(make_engine, fake_glm):
    fake_glm.inject("1214", times=1, headers={"x-should-retry": "true"})
    result = await make_engine().run(TRANSLATE, ["hola"])
    assert result.results[0].value == "[English] hola"


async def test_x_should_retry_true_never_retries_an_empty_balance(make_engine, fake_glm):
    fake_glm.inject("1113", times=None, headers={"x-should-retry": "true"})
    with pytest.raises(InsufficientBalanceError):
        await make_engine().run(TRANSLATE, ["hola"])
    assert len(fake_glm.requests) == 1


async def test_duplicate_request_id_is_retried_with_a_fresh_id(make_engine, fake_glm):
    fake_glm.inject("1231", times=1)
    result = await make_engine().run(TRANSLATE, ["hola"])
    assert result.results[0].value == "[English] hola"
    first, second = (r.body["request_id"] for r in fake_glm.requests)
    assert first != second and 6 <= len(second) <= 64


@pytest.mark.parametrize(
    ("code", "reset"), [("1308", "2026-11-26 12:00:00"), ("1310", "2026-12-01 08:00:00")]
)
async def test_used_up_limit_says_when_it_resets(make_engine, fake_glm, code, reset):
    fake_glm.inject(code, times=None)
    with pytest.raises(QuotaExceededError) as caught:
        await make_engine().run(TRANSLATE, ["hola"])
    assert f"resets at {reset}" in str(caught.value)


async def test_unknown_model_message_names_the_model_setting(make_engine, fake_glm):
    with pytest.raises(FatalProviderError) as caught:
        await make_engine(model="glm-nope").run(TRANSLATE, ["hola"])
    assert "'glm-nope'" in str(caught.value) and "EXCEL_GLM_MODEL" in str(caught.value)


async def test_wrong_base_url_404_says_which_setting_to_fix(make_engine, fake_glm):
    engine = make_engine(base_url=fake_glm.base_url + "/nowhere")
    with pytest.raises(FatalProviderError) as caught:
        await engine.run(TRANSLATE, ["hola"])
    assert "EXCEL_GLM_BASE_URL" in str(caught.value)


async def test_key_pasted_with_a_trailing_newline_still_works(make_engine, fake_glm):
    result = await make_engine(api_key=fake_glm.api_key + "\n").run(TRANSLATE, ["hola"])
    assert result.results[0].value == "[English] hola"


async def test_key_with_an_inner_space_is_one_auth_error_that_hides_it(make_engine, fake_glm):
    secret = "abcdef-id.very secret-value"
    with pytest.raises(AuthenticationError) as caught:
        await make_engine(api_key=secret).run(TRANSLATE, [f"v{n}" for n in range(10)])
    assert "abcdef" not in str(caught.value) and "very" not in str(caught.value)
    assert "EXCEL_GLM_API_KEY" in str(caught.value)
    assert fake_glm.requests == []


async def test_server_echoing_part_of_the_key_never_reaches_the_message(make_engine, fake_glm):
    fake_glm.inject("1000", times=None, message=f"API key {fake_glm.api_key.split('.')[1]} bad")
    with pytest.raises(AuthenticationError) as caught:
        await make_engine().run(TRANSLATE, ["hola"])
    assert fake_glm.api_key.split(".")[1] not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.parametrize("code", ["1113", "1308", "1261"])
async def test_fatal_error_sends_nothing_more_and_keeps_answers_in_flight(
    make_engine, fake_glm, code
):
    # Four requests in flight at once; one is refused while three others are still being paid
    # for. Those three land in the cache; nothing new is sent after the refusal arrives.
    fake_glm.set_latency(base_ms=300)
    fake_glm.inject(code, times=None, match="v3-")
    values = [f"v{n}-{k}" for n in range(20) for k in range(2)]
    engine = make_engine(pack_max_items=2, concurrency=4)
    with pytest.raises(FatalProviderError) as caught:
        await engine.run(TRANSLATE, values)
    assert caught.value.code == code
    await asyncio.sleep(0.5)  # let the fake finish (and record) whatever it was still answering
    requests = fake_glm.requests
    refused = [r.fault for r in requests].index(code)
    answered = [r for r in requests if r.status == 200]
    assert len(requests) - refused - 1 <= 3  # only what was already on its way
    assert engine.cache.count() == 2 * len(answered) and len(answered) >= 3


async def test_a_model_that_always_thinks_is_asked_again_with_room_to_think(tmp_path):
    import json

    import httpx

    from excel_glm.cache import Cache
    from excel_glm.config import Settings
    from excel_glm.engine import Engine
    from excel_glm.providers.glm import GlmProvider

    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if body.get("thinking", {}).get("type") == "disabled":
            message = "该模型始终思考，不支持关闭思考；请使用 low、high 或 max。"
            return httpx.Response(400, json={"code": "1210", "message": message})
        items = json.loads(body["messages"][-1]["content"])["items"]
        content = json.dumps({item["id"]: f"[English] {item['text']}" for item in items})
        message = {"content": content, "reasoning_content": "Let me think."}
        return httpx.Response(200, json={"choices": [{"message": message}]})

    settings = Settings(provider="glm", api_key="k.s", base_url="http://127.0.0.1:1/v4")
    provider = GlmProvider(settings, transport=httpx.MockTransport(handler))
    engine = Engine(settings, provider=provider, cache=Cache(tmp_path / "c.sqlite3"))
    result = await engine.run(TRANSLATE, ["a", "b"])
    await engine.aclose()
    assert [r.value for r in result.results] == ["[English] a", "[English] b"]
    assert [b.get("thinking") for b in bodies] == [{"type": "disabled"}, None]
    assert bodies[1]["reasoning_effort"] == "low"
    assert bodies[1]["max_tokens"] > bodies[0]["max_tokens"] + 1000
