"""The `openai` provider against servers shaped like vLLM, llama.cpp's server, Ollama, OpenAI."""

from __future__ import annotations

import json

import httpx
import pytest

from excel_glm.cache import Cache
from excel_glm.config import Settings
from excel_glm.engine import Engine
from excel_glm.errors import AuthenticationError, FatalProviderError, InsufficientBalanceError
from excel_glm.providers.base import ChatRequest
from excel_glm.providers.openai import OpenAIProvider
from excel_glm.tasks import make_task

TRANSLATE = make_task("translate", {"to": "English"})


def _settings(base_url: str = "http://127.0.0.1:8000/v1", **overrides) -> Settings:
    fields = {"provider": "openai", "base_url": base_url, "model": "served-model"}
    return Settings(**{**fields, "retry_delay_scale": 0.001, **overrides})


def _answer_pack(request: httpx.Request, **choice_overrides) -> httpx.Response:
    """Answer a packed request the way the fake's oracle would: "[English] <text>"."""
    body = json.loads(request.content)
    items = json.loads(body["messages"][-1]["content"])["items"]
    content = json.dumps({item["id"]: f"[English] {item['text']}" for item in items})
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    choice.update({"finish_reason": "stop", **choice_overrides})
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": None}
    return httpx.Response(
        200, json={"object": "chat.completion", "choices": [choice], "usage": usage}
    )


async def _run(handler, values, tmp_path, **overrides):
    settings = _settings(**overrides)
    provider = OpenAIProvider(settings, transport=httpx.MockTransport(handler))
    engine = Engine(settings, provider=provider, cache=Cache(tmp_path / "c.sqlite3"))
    try:
        return await engine.run(TRANSLATE, values)
    finally:
        await engine.aclose()


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.1:8000/v1/",
        "http://127.0.0.1:8000/v1/chat/completions",
        " http://127.0.0.1:8000/v1 ",
    ],
)
async def test_base_url_with_or_without_v1_reaches_the_chat_endpoint(base_url):
    urls = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json={"choices": [{"message": {"content": "hi"}}]})

    provider = OpenAIProvider(_settings(base_url), transport=httpx.MockTransport(handler))
    await provider.complete(ChatRequest(messages=[{"role": "user", "content": "x"}]))
    await provider.aclose()
    assert urls == ["http://127.0.0.1:8000/v1/chat/completions"]


async def test_a_server_refusing_response_format_is_asked_without_it(tmp_path):
    formats = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        formats.append("response_format" in body)
        if "response_format" in body:
            error = {"message": "response_format is not supported", "type": "BadRequestError"}
            return httpx.Response(400, json={"error": {**error, "param": None, "code": 400}})
        return _answer_pack(request)

    result = await _run(handler, ["a", "b", "c"], tmp_path, pack_max_items=1, concurrency=1)
    assert [r.value for r in result.results] == ["[English] a", "[English] b", "[English] c"]
    assert formats == [True, False, False, False]


async def test_openai_shaped_errors_are_classified(tmp_path):
    answers = iter(
        [
            httpx.Response(
                429, json={"error": {"message": "slow down", "code": "rate_limit_exceeded"}}
            ),
            httpx.Response(
                500, json={"error": {"message": "boom", "type": "server_error", "code": None}}
            ),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or _answer_pack(request)

    result = await _run(handler, ["a"], tmp_path)
    assert result.results[0].value == "[English] a"


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            401,
            {
                "message": "Incorrect API key",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            },
            AuthenticationError,
        ),
        (
            429,
            {
                "message": "You exceeded your quota",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            },
            InsufficientBalanceError,
        ),
        (
            404,
            {
                "message": 'model "served-model" not found, try pulling it first',
                "type": "api_error",
                "code": None,
            },
            FatalProviderError,
        ),
    ],
)
async def test_openai_shaped_fatal_errors_stop_the_run(tmp_path, status, error, expected):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"error": error})

    with pytest.raises(expected) as caught:
        await _run(handler, [f"v{n}" for n in range(10)], tmp_path, pack_max_items=2, concurrency=1)
    assert len(calls) == 1
    assert error["message"][:10] in str(caught.value)


async def test_missing_model_on_ollama_names_the_model_setting(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"message": 'model "served-model" not found', "type": "api_error", "code": None}
        return httpx.Response(404, json={"error": error})

    with pytest.raises(FatalProviderError, match="EXCEL_GLM_MODEL"):
        await _run(handler, ["a"], tmp_path)


async def test_vllm_flat_error_body_is_read(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"object": "error", "message": "max_tokens is too large", "type": "BadRequestError"}
        return httpx.Response(400, json={**body, "param": None, "code": 400})

    with pytest.raises(FatalProviderError, match="max_tokens is too large"):
        await _run(handler, ["a"], tmp_path)


async def test_content_filter_error_fails_only_that_cell(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if "BLOCKED" in request.content.decode():
            error = {"message": "filtered", "type": None, "code": "content_filter"}
            return httpx.Response(400, json={"error": error})
        return _answer_pack(request)

    result = await _run(handler, ["a", "BLOCKED", "c"], tmp_path, pack_max_items=3)
    assert [r.ok for r in result.results] == [True, False, True]
    assert "content filter" in result.results[1].error


async def test_finish_reason_content_filter_fails_only_that_cell(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if "BLOCKED" in request.content.decode():
            return _answer_pack(request, finish_reason="content_filter")
        return _answer_pack(request)

    result = await _run(handler, ["a", "BLOCKED", "c"], tmp_path, pack_max_items=3)
    assert [r.ok for r in result.results] == [True, False, True]


async def test_content_as_a_list_of_text_parts_is_read(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        text = json.loads(_answer_pack(request).content)["choices"][0]["message"]["content"]
        parts = [{"type": "text", "text": text[:5]}, {"type": "text", "text": text[5:]}]
        choice = {"message": {"role": "assistant", "content": parts}, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice]})

    result = await _run(handler, ["a", "b"], tmp_path, pack_max_items=2)
    assert [r.value for r in result.results] == ["[English] a", "[English] b"]
    assert result.usage.requests == 1


async def test_reasoning_server_without_a_parser_thinks_in_the_content(tmp_path):
    # vLLM serving GLM without --reasoning-parser: the template opened <think>, the content
    # holds the reasoning, "</think>", then the answer.
    def handler(request: httpx.Request) -> httpx.Response:
        text = json.loads(_answer_pack(request).content)["choices"][0]["message"]["content"]
        thought = 'The user wants {"1": "something"}. Let me answer.\n</think>\n'
        choice = {"message": {"content": thought + text}, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice], "usage": None})

    result = await _run(handler, ["a", "b"], tmp_path, pack_max_items=2)
    assert [r.value for r in result.results] == ["[English] a", "[English] b"]
    assert result.usage.requests == 1


async def test_openai_provider_against_the_fake_glm_server_ignoring_json_mode(fake_glm, tmp_path):
    fake_glm.inject("prose", times=None)
    settings = _settings(fake_glm.base_url, api_key=fake_glm.api_key, model="glm-5")
    engine = Engine(settings, cache=Cache(tmp_path / "c.sqlite3"))
    result = await engine.run(TRANSLATE, ["hola", "adiós"])
    await engine.aclose()
    assert [r.value for r in result.results] == ["[English] hola", "[English] adiós"]
    body = fake_glm.requests[0].body
    assert body["max_tokens"] >= 1 and not {"thinking", "do_sample", "request_id"} & set(body)


async def test_a_wrong_path_error_shows_the_url_without_credentials(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>Not Found</html>")

    url = "http://admin:hunter22@127.0.0.1:8000/api?token=abc123"
    with pytest.raises(FatalProviderError) as caught:
        await _run(handler, ["a"], tmp_path, base_url=url)
    message = str(caught.value)
    assert "127.0.0.1:8000/api" in message and "EXCEL_GLM_BASE_URL" in message
    assert "hunter22" not in message and "abc123" not in message
