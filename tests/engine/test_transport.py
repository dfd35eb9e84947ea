"""The wire misbehaving: resets, cut bodies, HTTP/1.0, silent or trickling servers, closed
keep-alive connections. No cell lost or misplaced, and no hang."""

from __future__ import annotations

import asyncio

import pytest

from engine.raw_http import RawChatServer
from excel_glm.cache import Cache
from excel_glm.config import Settings
from excel_glm.engine import Engine
from excel_glm.tasks import make_task

TRANSLATE = make_task("translate", {"to": "English"})
VALUES = [f"frase {n}" for n in range(6)]
EXPECTED = [f"[English] frase {n}" for n in range(6)]


async def _run_against(server: RawChatServer, tmp_path, **overrides) -> list:
    fields = {"provider": "openai", "base_url": server.base_url, "model": "m"}
    settings = Settings(**{**fields, **overrides})
    engine = Engine(settings, cache=Cache(tmp_path / "c.sqlite3"))
    try:
        result = await asyncio.wait_for(engine.run(TRANSLATE, VALUES), timeout=30)
    finally:
        await engine.aclose()
    return [r.value for r in result.results]


@pytest.mark.parametrize(
    "script",
    [
        ["reset", "reset"],
        ["reset_body", "ok", "reset_body"],
        ["http10", "http10", "http10"],
        ["close_idle", "close_idle", "close_idle"],
        ["ok", "close_idle", "reset", "http10"],
    ],
)
async def test_connection_faults_lose_and_shift_nothing(tmp_path, fake_glm, script):
    with RawChatServer(script) as server:
        values = await _run_against(server, tmp_path, pack_max_items=2, concurrency=1)
    assert values == EXPECTED
    assert server.seen[: len(script)] == script


async def test_headers_that_never_come_time_out_and_are_retried(tmp_path, fake_glm):
    with RawChatServer(["silent"]) as server:
        values = await _run_against(server, tmp_path, request_timeout_s=0.5, concurrency=1)
    assert values == EXPECTED


async def test_a_trickling_body_cannot_hold_the_run_forever(make_engine, fake_glm):
    # Eight bytes every 0.2 s: no single read waits as long as the 0.5 s timeout, yet the
    # answer would take minutes. The whole answer has a deadline; the retry is answered.
    fake_glm.inject("trickle", times=1, delay=0.2)
    engine = make_engine(request_timeout_s=0.5)
    result = await asyncio.wait_for(engine.run(TRANSLATE, ["hola"]), timeout=30)
    assert result.results[0].value == "[English] hola"
    assert [r.fault for r in fake_glm.requests] == ["trickle", None]


async def test_server_closing_every_connection_loses_nothing(make_engine, fake_glm):
    fake_glm.inject("close", times=None)
    result = await make_engine(pack_max_items=2, concurrency=3).run(TRANSLATE, VALUES * 3)
    assert [r.value for r in result.results] == EXPECTED * 3
