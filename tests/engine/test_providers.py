"""Provider wiring: the OpenAI-compatible body, provider choice, and completion-only providers."""

from __future__ import annotations

import httpx
import pytest

from excel_glm.cache import Cache
from excel_glm.config import Settings
from excel_glm.engine import Engine
from excel_glm.errors import ConfigError
from excel_glm.providers import make_provider
from excel_glm.providers.base import Capabilities, ChatRequest, Completion
from excel_glm.providers.glm import GlmProvider
from excel_glm.providers.openai import OpenAIProvider
from excel_glm.tasks import make_task


async def test_openai_provider_sends_no_glm_only_fields(fake_glm, tmp_path):
    settings = Settings(
        provider="openai", base_url=fake_glm.base_url, api_key=fake_glm.api_key, model="glm-5"
    )
    engine = Engine(settings, cache=Cache(tmp_path / "c.sqlite3"))
    result = await engine.run(make_task("translate", {"to": "English"}), ["hola"])
    await engine.aclose()
    assert result.results[0].value == "[English] hola"
    body = fake_glm.requests[0].body
    assert not {"thinking", "do_sample", "request_id"} & set(body)
    assert body["temperature"] == 0


async def test_openai_provider_works_without_a_key():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers.get("authorization")
        choice = {"message": {"content": "hi"}, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice]})

    settings = Settings(provider="openai", base_url="http://127.0.0.1:1/v1", model="llama")
    provider = OpenAIProvider(settings, transport=httpx.MockTransport(handler))
    completion = await provider.complete(ChatRequest(messages=[{"role": "user", "content": "x"}]))
    await provider.aclose()
    assert completion.text == "hi" and seen["auth"] is None


async def test_in_band_error_in_a_200_answer_is_classified():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": {"code": "1305", "message": "busy"}})

    settings = Settings(provider="glm", api_key="k.s", base_url="http://127.0.0.1:1/v4")
    provider = GlmProvider(settings, transport=httpx.MockTransport(handler))
    from excel_glm.errors import RetryableProviderError

    with pytest.raises(RetryableProviderError) as caught:
        await provider.complete(ChatRequest(messages=[{"role": "user", "content": "x"}]))
    assert caught.value.code == "1305"


def test_make_provider_follows_the_settings(fake_glm):
    glm = make_provider(Settings(api_key="k.s"))
    assert isinstance(glm, GlmProvider) and glm.name == "glm"
    other = make_provider(Settings(provider="openai", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(other, OpenAIProvider)


class EchoCompletionProvider:
    """A completion-only provider (like the embedded model): records prompts, echoes a label."""

    name = "local"
    model = "tiny.gguf"
    capabilities = Capabilities(chat=False, packing=False, json_mode=False, max_concurrency=1)

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.prompts: list[str] = []
        self.in_flight = self.peak = 0

    async def complete(self, request: ChatRequest) -> Completion:
        import asyncio

        assert request.prompt and not request.messages
        self.prompts.append(request.prompt)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        return Completion(text=self.answer)

    async def aclose(self) -> None:
        pass


async def test_completion_only_provider_gets_one_cell_per_request(tmp_path):
    provider = EchoCompletionProvider(" negative\n")
    settings = Settings(provider="local", concurrency=4)
    engine = Engine(settings, provider=provider, cache=Cache(tmp_path / "c.sqlite3"))
    task = make_task("classify", {"labels": "positive,negative"})
    result = await engine.run(task, ["awful", "bad", None, "awful"])
    assert [r.value for r in result.results] == ["negative", "negative", None, "negative"]
    assert len(provider.prompts) == 2 and provider.peak == 1
    assert result.usage.cost == 0


def test_unknown_provider_in_settings_is_a_config_error():
    with pytest.raises((ConfigError, ValueError)):
        Settings(provider="mystery")
