"""Adaptive concurrency: AIMD, shared per (provider, base_url, model), usable from any loop."""

from __future__ import annotations

import asyncio
import threading

from excel_glm.engine.concurrency import AdaptiveLimiter, shared_limiter
from excel_glm.tasks import make_task


async def test_overload_halves_once_per_generation_and_success_grows_back():
    limiter = AdaptiveLimiter(8)
    tickets = [await limiter.acquire() for _ in range(3)]
    for ticket in tickets:  # requests in flight together all report the same overload
        limiter.on_overload(ticket)
    assert limiter.limit == 4
    for _ in range(3):
        limiter.release()
    limiter.on_overload(await limiter.acquire())  # a request sent after the decrease counts
    assert limiter.limit == 2
    limiter.release()
    for _ in range(40):
        limiter.on_success()
    assert limiter.limit == 8


def test_limit_never_drops_below_one():
    limiter = AdaptiveLimiter(2)
    for _ in range(5):
        limiter.on_overload()
    assert limiter.limit == 1


def test_engines_on_the_same_endpoint_share_one_limiter():
    one = shared_limiter("glm", "http://x/api/", "glm-5", 5)
    assert shared_limiter("glm", "http://x/api", "glm-5", 9) is one
    assert shared_limiter("glm", "http://x/api", "glm-4.6", 5) is not one


def test_limiter_holds_across_threads_and_event_loops():
    limiter = AdaptiveLimiter(3)
    peak = 0
    active = 0
    lock = threading.Lock()

    async def worker():
        nonlocal peak, active
        for _ in range(10):
            async with limiter:
                with lock:
                    active += 1
                    peak = max(peak, active)
                await asyncio.sleep(0.001)
                with lock:
                    active -= 1

    def run_loop():
        async def many():
            await asyncio.gather(*(worker() for _ in range(4)))

        asyncio.run(many())

    threads = [threading.Thread(target=run_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert peak == 3 and limiter.in_flight == 0


async def test_cancelled_waiter_gives_its_slot_back():
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    waiting = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    limiter.release()
    await asyncio.gather(waiting, return_exceptions=True)
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire(), 1)


async def test_engine_halves_on_1302_and_still_answers_everything(make_engine, fake_glm):
    fake_glm.concurrency_limit = 2
    fake_glm.set_latency(base_ms=20)
    engine = make_engine(concurrency=8, pack_max_items=1)
    values = [f"v{n}" for n in range(30)]
    result = await engine.run(make_task("translate", {"to": "English"}), values)
    assert [r.value for r in result.results] == [f"[English] {v}" for v in values]
    assert engine.limiter.decreases >= 1
    assert any(r.status == 429 for r in fake_glm.requests)
    assert fake_glm.peak_in_flight <= 2


async def test_engine_never_exceeds_its_configured_concurrency(make_engine, fake_glm):
    fake_glm.set_latency(base_ms=20)
    engine = make_engine(concurrency=3, pack_max_items=1)
    await engine.run(make_task("translate", {"to": "English"}), [f"v{n}" for n in range(15)])
    assert fake_glm.peak_in_flight == 3


async def test_a_concurrency_above_the_default_pool_reaches_the_server(make_engine, fake_glm):
    # httpx's connection pool must not quietly cap the configured concurrency (it held 64).
    fake_glm.set_latency(base_ms=300)
    engine = make_engine(concurrency=80, pack_max_items=1)
    await engine.run(make_task("translate", {"to": "English"}), [f"v{n}" for n in range(80)])
    assert fake_glm.peak_in_flight == 80
