"""Identical cells asked by concurrent requests share one engine call.

A recalculation storm sends the same cells in many overlapping requests. The engine's cache answers
them once an answer is stored, but two requests that both miss the cache at the same moment would
both pay. Here every distinct (task, cell) in flight is registered with the engine run answering
it; a later request awaits that run instead of asking again. The engine call runs as its own task,
so a client that disconnects does not throw away an answer another request (or the cache) is
waiting for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from excel_glm.results import CellResult, RunResult, Usage


class CellRunner(Protocol):
    """What this module needs of the engine."""

    async def run(self, task: Any, values: Sequence[object]) -> RunResult: ...


@dataclass(slots=True)
class Answered:
    """One result per input cell, and the usage this request caused."""

    results: list[CellResult]
    usage: Usage


def task_identity(task: Any) -> Hashable:
    """What makes two tasks give the same answers: name, version and canonical params."""
    params = json.dumps(task.params(), sort_keys=True, default=str, ensure_ascii=False)
    return (task.name, task.version, params)


class InflightCells:
    """The registry of distinct cells currently being answered by the engine.

    Each in-flight cell maps to the engine run answering it and its index there: one task per
    run, not one future per cell, so a 10,000-cell request adds no per-cell event-loop work.
    """

    def __init__(self) -> None:
        self._pending: dict[Hashable, tuple[asyncio.Task[RunResult], int]] = {}
        self._runs: set[asyncio.Task[RunResult]] = set()

    async def answer(self, engine: CellRunner, task: Any, values: Sequence[object]) -> Answered:
        """Answer `values` in order, joining identical cells already in flight."""
        task_key = task_identity(task)
        slot_of: dict[Hashable, int] = {}
        slots: list[int] = []
        distinct: list[object] = []
        for value in values:
            # The type is part of the key: True == 1 == 1.0 in Python, but not in a sheet.
            key = (task_key, type(value).__name__, value)
            slot = slot_of.get(key)
            if slot is None:
                slot = slot_of[key] = len(distinct)
                distinct.append(value)
            slots.append(slot)

        mine: list[int] = []
        waiting: dict[int, tuple[asyncio.Task[RunResult], int]] = {}
        pending = self._pending
        for slot, key in enumerate(slot_of):
            joined = pending.get(key)
            if joined is None:
                mine.append(slot)
            else:
                waiting[slot] = joined

        answers: list[CellResult | None] = [None] * len(distinct)
        usage = Usage()
        if mine:
            keys = list(slot_of)
            run = self._start(engine, task, [keys[s] for s in mine], [distinct[s] for s in mine])
            # shield: if this request goes away, the run still completes for the cache and others.
            result = await asyncio.shield(run)
            usage = result.usage
            for slot, cell in zip(mine, result.results, strict=True):
                answers[slot] = cell
        if waiting:
            shared = await self._join(engine, task, waiting, distinct, answers)
            usage.cache_hits += shared  # answered by another request's call: free for this one

        results: list[CellResult] = [answers[s] for s in slots]  # type: ignore[misc]
        usage.cells = sum(1 for r in results if r.value is not None or r.error is not None)
        return Answered(results=results, usage=usage)

    def _start(
        self, engine: CellRunner, task: Any, keys: list[Hashable], values: list[object]
    ) -> asyncio.Task[RunResult]:
        run = asyncio.create_task(engine.run(task, values))
        self._runs.add(run)
        for index, key in enumerate(keys):
            self._pending[key] = (run, index)
        run.add_done_callback(lambda done: self._forget(done, keys))
        return run

    def _forget(self, run: asyncio.Task[RunResult], keys: list[Hashable]) -> None:
        self._runs.discard(run)
        pending = self._pending
        for key in keys:
            entry = pending.get(key)
            if entry is not None and entry[0] is run:
                del pending[key]
        if not run.cancelled():
            run.exception()  # mark it retrieved: an owner that went away never reads it

    async def _join(
        self,
        engine: CellRunner,
        task: Any,
        waiting: dict[int, tuple[asyncio.Task[RunResult], int]],
        distinct: list[object],
        answers: list[CellResult | None],
    ) -> int:
        """Fill `answers` from other requests' runs; returns how many cells they answered."""
        runs = {run for run, _ in waiting.values()}
        await asyncio.wait(runs)
        orphans: list[int] = []
        for slot, (run, index) in waiting.items():
            if run.cancelled():
                orphans.append(slot)  # the owner's run was cancelled (shutdown): ask ourselves
            else:
                answers[slot] = run.result().results[index]  # re-raises a fatal provider error
        if orphans:
            result = await engine.run(task, [distinct[s] for s in orphans])
            for slot, cell in zip(orphans, result.results, strict=True):
                answers[slot] = cell
        return len(waiting) - len(orphans)

    async def aclose(self) -> None:
        """Cancel runs still going (service shutdown); their finished answers are already cached."""
        for run in list(self._runs):
            run.cancel()
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)
