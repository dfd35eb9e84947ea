"""The engine: many cells in, one result or one clear error per cell out, in order.

A run converts each value (excel_glm.cells), drops blanks, deduplicates, answers what it can from
the cache, packs the rest into few requests, dispatches them under the shared adaptive limiter,
retries what is retryable, re-sends unanswered or invalid cells in smaller packs down to one cell,
and only then gives that cell an error. Every answer is in the cache before anything else uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from excel_glm.cache import Cache, cache_key
from excel_glm.cells import EXCEL_CELL_LIMIT, convert_cell, estimate_tokens
from excel_glm.config import Settings
from excel_glm.engine.concurrency import AdaptiveLimiter, shared_limiter
from excel_glm.engine.packing import (
    ID_OVERHEAD_TOKENS,
    WorkItem,
    pack_cells,
    pack_request,
    read_pack_answer,
)
from excel_glm.engine.pricing import cost_usd, price_for
from excel_glm.engine.retry import Failure, classify_failure, policy_for
from excel_glm.errors import (
    FatalProviderError,
    ProviderError,
    RetryableProviderError,
    RunCancelled,
)
from excel_glm.providers.base import ChatRequest, Completion, Provider
from excel_glm.results import CellResult, CellValue, Estimate, Progress, RunResult, Usage
from excel_glm.tasks import Task

log = logging.getLogger("excel_glm.engine")
ProgressCallback = Callable[[Progress], None]
FILTERED = "the provider's content filter blocked this cell"


class _GaveUp(Exception):
    """Internal: a request kept failing with retryable errors until the attempts ran out."""


class _Stopped(Exception):
    """Internal: the run met a fatal error; this pack sends nothing more."""


@dataclass
class _RunState:
    """What one run knows: cells grouped by text, answers so far, usage."""

    task: Task
    inputs: list
    groups: dict[str, list[int]]
    keys: dict[str, str]
    on_progress: ProgressCallback | None
    usage: Usage = field(default_factory=Usage)
    answers: dict[str, CellResult] = field(default_factory=dict)
    done_cells: int = 0
    total_cells: int = 0
    # The first fatal provider error. It stops new requests at once, while the requests already
    # in flight (paid for) finish and land in the cache; the run raises it after that.
    fatal: FatalProviderError | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self, error: FatalProviderError) -> None:
        if self.fatal is None:
            self.fatal = error
        self.stopped.set()

    def settle(self, text: str, result: CellResult) -> None:
        if text in self.answers:
            return
        self.answers[text] = result
        self.done_cells += len(self.groups[text])

    def report(self) -> None:
        if self.on_progress is not None:
            progress = Progress(
                done=self.done_cells,
                total=self.total_cells,
                cache_hits=self.usage.cache_hits,
                usage=self.usage,
            )
            self.on_progress(progress)


class Engine:
    """Runs tasks over cells with one provider, one cache and the process-wide limiter."""

    def __init__(
        self,
        settings: Settings,
        *,
        provider: Provider | None = None,
        cache: Cache | None = None,
    ) -> None:
        if provider is None:
            from excel_glm.providers import make_provider

            provider = make_provider(settings)
        self.settings = settings
        self.provider = provider
        self.cache = cache if cache is not None else Cache(settings.resolved_cache_path)
        self.policy = policy_for(settings.max_attempts, settings.retry_delay_scale)
        caps = provider.capabilities
        self._chat = caps.chat
        self._max_items = settings.pack_max_items if caps.chat and caps.packing else 1
        ceiling = min(settings.concurrency, caps.max_concurrency or settings.concurrency)
        self.limiter: AdaptiveLimiter = shared_limiter(
            provider.name, str(getattr(provider, "base_url", "")), provider.model, ceiling
        )
        self._priced = provider.name != "local"
        self._rng = random.Random()

    # -- preparing a run -------------------------------------------------------------------------
    def _prepare(
        self, task: Task, values: Sequence[object], on_progress: ProgressCallback | None
    ) -> _RunState:
        inputs = [convert_cell(value) for value in values]
        groups: dict[str, list[int]] = {}
        errors = 0
        for index, cell in enumerate(inputs):
            if cell.text is not None:
                groups.setdefault(cell.text, []).append(index)
            elif cell.error is not None:
                errors += 1
        params = task.params()
        keys = {
            text: cache_key(
                provider=self.provider.name,
                model=self.provider.model,
                task=task.name,
                version=task.version,
                params=params,
                text=text,
            )
            for text in groups
        }
        state = _RunState(task, inputs, groups, keys, on_progress)
        state.total_cells = errors + sum(len(indices) for indices in groups.values())
        state.done_cells = errors
        state.usage.cells = state.total_cells
        state.usage.distinct = len(groups)
        return state

    def _work_items(self, state: _RunState, cached: dict[str, CellValue]) -> list[WorkItem]:
        items = []
        for text, key in state.keys.items():
            if key in cached:
                state.settle(text, CellResult(value=cached[key], cached=True))
                state.usage.cache_hits += 1
            else:
                items.append(WorkItem(key, text, state.task.expected_output_tokens(text)))
        return items

    # -- the public surface ----------------------------------------------------------------------
    async def run(
        self,
        task: Task,
        values: Sequence[object],
        *,
        on_progress: ProgressCallback | None = None,
        cancel: asyncio.Event | None = None,
    ) -> RunResult:
        """Answer every value; results[i] answers values[i]. Raises FatalProviderError once the
        requests already in flight are back (nothing new is sent; every answer received is
        cached) and RunCancelled when `cancel` is set."""
        if cancel is not None and cancel.is_set():
            raise RunCancelled("the run was cancelled before it started")
        state = self._prepare(task, values, on_progress)
        cached = self.cache.get_many(list(state.keys.values()))
        items = self._work_items(state, cached)
        state.report()
        if items:
            packs = pack_cells(
                items,
                max_items=self._max_items,
                max_output_tokens=self.settings.pack_max_output_tokens,
            )
            # Longest packs first, so the run does not end waiting on one long pack while the
            # other slots idle (results keep their order whatever the dispatch order).
            packs.sort(key=lambda pack: sum(item.expected_tokens for item in pack), reverse=True)
            await self._dispatch_cancellable(state, packs, cancel)
        self._finish_usage(state)
        return RunResult(results=self._results(state), usage=state.usage)

    def estimate(self, task: Task, values: Sequence[object]) -> Estimate:
        """Cells, distinct texts, cache hits and estimated tokens and cost; calls nothing."""
        state = self._prepare(task, values, None)
        cached = self.cache.get_many(list(state.keys.values()))
        items = self._work_items(state, cached)
        packs = pack_cells(
            items, max_items=self._max_items, max_output_tokens=self.settings.pack_max_output_tokens
        )
        instruction = estimate_tokens(task.instruction()) if self._chat else 64
        prompt = completion = 0
        for pack in packs:
            prompt += instruction + 8 + sum(estimate_tokens(i.text) + 12 for i in pack)
            completion += sum(i.expected_tokens + ID_OVERHEAD_TOKENS for i in pack) + 2
        cost = cost_usd(self.provider.model, prompt, 0, completion) if self._priced else 0.0
        return Estimate(
            cells=state.usage.cells,
            distinct=state.usage.distinct,
            cache_hits=state.usage.cache_hits,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost=cost,
        )

    async def aclose(self) -> None:
        """Close the provider and the cache connection."""
        await self.provider.aclose()
        self.cache.close()

    # -- dispatch --------------------------------------------------------------------------------
    async def _dispatch_cancellable(
        self, state: _RunState, packs: list[list[WorkItem]], cancel: asyncio.Event | None
    ) -> None:
        work = asyncio.ensure_future(self._dispatch(state, packs))
        if cancel is None:
            await work
            return
        watcher = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():
            answered = len(state.answers)
            raise RunCancelled(f"the run was cancelled; {answered} answers so far are cached")
        work.result()

    async def _dispatch(self, state: _RunState, packs: list[list[WorkItem]]) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for pack in packs:
                    group.create_task(self._answer(state, pack))
        except BaseExceptionGroup as failures:
            raise _first_error(failures) from None
        if state.fatal is not None:
            raise state.fatal

    async def _answer(self, state: _RunState, items: list[WorkItem]) -> None:
        try:
            if self._chat:
                await self._answer_pack(state, items)
            else:
                await self._answer_completion(state, items[0])
        except _Stopped:
            pass  # its cells stay unanswered; the run raises the fatal error once all are back

    async def _answer_pack(
        self, state: _RunState, items: list[WorkItem], *, scale: float = 1.0, tries: int = 0
    ) -> None:
        """Send a pack and settle what came back; re-send the rest smaller, down to one cell."""
        try:
            completion = await self._send(
                state, pack_request(state.task.instruction(), items, scale=scale)
            )
        except _GaveUp as exc:
            self._fail(state, items, str(exc))
            return
        finish = completion.finish_reason
        if finish == "sensitive":
            if len(items) == 1:
                self._fail(state, items, FILTERED)
            else:
                await self._resend(state, items, size=max(1, len(items) // 2))
            return
        if finish in ("length", "model_context_window_exceeded"):
            await self._after_length(state, items, scale, tries)
            return
        answers = read_pack_answer(completion.text, len(items))
        good: list[tuple[WorkItem, CellValue]] = []
        missing: list[WorkItem] = []
        for position, item in enumerate(items):
            value = state.task.validate(answers[position]) if position in answers else None
            if value is None:
                missing.append(item)
                if position in answers and len(items) == 1:
                    # A readable but invalid answer to greedy decoding is unlikely to change:
                    # one more try, not the budget meant for garbled or missing answers.
                    tries = max(tries, self.policy.single_cell_attempts - 2)
            elif too_long_for_a_cell(value):
                state.settle(item.text, CellResult(error=too_long_for_a_cell(value)))
            else:
                good.append((item, value))
        self._store(state, good)
        if not missing:
            return
        if len(items) > 1:
            await self._resend(state, missing, size=max(1, len(items) // 2))
        elif tries + 1 < self.policy.single_cell_attempts:
            await self._answer_pack(state, items, scale=scale, tries=tries + 1)
        else:
            self._fail(state, items, "the model gave no valid answer for this cell")

    async def _after_length(
        self, state: _RunState, items: list[WorkItem], scale: float, tries: int
    ) -> None:
        """Output hit max_tokens: split the pack; a single cell gets more room, then an error."""
        if len(items) > 1:
            await self._resend(state, items, size=max(1, len(items) // 2))
        elif tries < self.policy.length_retries:
            await self._answer_pack(
                state, items, scale=scale * self.policy.length_growth, tries=tries + 1
            )
        else:
            self._fail(state, items, "the answer was longer than the model may write for one cell")

    async def _resend(self, state: _RunState, items: list[WorkItem], *, size: int) -> None:
        parts = [items[start : start + size] for start in range(0, len(items), size)]
        # Every part runs to its end before any error goes up: none is left running unowned.
        outcomes = await asyncio.gather(
            *(self._answer_pack(state, part) for part in parts), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _answer_completion(self, state: _RunState, item: WorkItem) -> None:
        """One cell through a completion-only provider (the embedded base model): one request
        per piece the few-shot module asks for, then its parsing and the task's validation."""
        from excel_glm import fewshot

        task = state.task
        try:
            requests = fewshot.completion_requests(task, item.text)
            raws = []
            for request in requests:
                completion = await self._send(state, request)
                if completion.finish_reason == "sensitive":
                    raise _GaveUp(FILTERED)
                raws.append(completion.text)
            value = task.validate(fewshot.parse_completions(task, raws, item.text))
        except _GaveUp as exc:
            self._fail(state, [item], str(exc))
            return
        except FatalProviderError as exc:
            state.stop(exc)
            raise _Stopped from None
        except ProviderError as exc:  # the local model's per-cell failures (LocalModelError)
            self._fail(state, [item], str(exc))
            return
        if value is None:
            self._fail(state, [item], "the model gave no valid answer for this cell")
        elif too_long_for_a_cell(value):
            self._fail(state, [item], too_long_for_a_cell(value) or "")
        else:
            self._store(state, [(item, value)])

    async def _send(self, state: _RunState, request: ChatRequest) -> Completion:
        """One request with retries under the shared limiter; FatalProviderError propagates.

        Overload answers (1302/1305...) shrink the shared limit and have their own, larger
        budget: the account's limit is the normal state of a bulk run, not a failure of it."""
        failures = overloads = 0
        policy = self.policy
        while True:
            overload = False
            if state.fatal is not None:
                raise _Stopped
            generation = await self.limiter.acquire()
            if state.fatal is not None:  # it came while this request waited for a slot
                self.limiter.release()
                raise _Stopped
            try:
                completion = await self.provider.complete(request)
            except RetryableProviderError as exc:
                overload = classify_failure(exc.status, exc.code) is Failure.OVERLOAD
                if overload:
                    self.limiter.on_overload(generation)
                last: Exception = exc
            except FatalProviderError as exc:
                state.stop(exc)
                raise _Stopped from None
            except ProviderError as exc:
                # Neither retryable nor fatal: this request's cells fail, the run goes on.
                raise _GaveUp(str(exc)) from None
            else:
                self.limiter.on_success()
                state.usage.prompt_tokens += completion.prompt_tokens
                state.usage.completion_tokens += completion.completion_tokens
                state.usage.cached_tokens += completion.cached_tokens
                if completion.finish_reason != "network_error":
                    return completion
                last = RetryableProviderError("the model reported an inference error")
            finally:
                self.limiter.release()
                state.usage.requests += 1
            if overload:
                overloads += 1
                attempt, budget = overloads, policy.max_overload_attempts
            else:
                failures += 1
                attempt, budget = failures, policy.max_attempts
            if attempt >= budget:
                raise _GaveUp(f"no answer after {failures + overloads} attempts: {last}")
            retry_after = getattr(last, "retry_after", None)
            delay = policy.delay(attempt, overload=overload, retry_after=retry_after, rng=self._rng)
            # A fatal error elsewhere ends the wait early: nothing more will be sent.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.stopped.wait(), delay)

    # -- bookkeeping -----------------------------------------------------------------------------
    def _store(self, state: _RunState, good: list[tuple[WorkItem, CellValue]]) -> None:
        """Cache first (the checkpoint), then settle the cells and report progress."""
        if good:
            self.cache.put_many(
                [(item.key, value) for item, value in good],
                provider=self.provider.name,
                model=self.provider.model,
                task=state.task.name,
            )
            for item, value in good:
                state.settle(item.text, CellResult(value=value))
        state.report()

    def _fail(self, state: _RunState, items: list[WorkItem], message: str) -> None:
        for item in items:
            state.settle(item.text, CellResult(error=message))
        state.report()

    def _finish_usage(self, state: _RunState) -> None:
        usage = state.usage
        if self._priced:
            if price_for(self.provider.model) is None:
                log.warning("no price known for model %r: its cost shows as 0", self.provider.model)
            usage.cost = cost_usd(
                self.provider.model,
                usage.prompt_tokens,
                usage.cached_tokens,
                usage.completion_tokens,
            )

    def _results(self, state: _RunState) -> list[CellResult]:
        results: list[CellResult] = []
        for cell in state.inputs:
            if cell.text is not None:
                answer = state.answers.get(cell.text)
                results.append(answer or CellResult(error="no answer was received for this cell"))
            elif cell.error is not None:
                results.append(CellResult(error=cell.error))
            else:
                results.append(CellResult())
        return results


def too_long_for_a_cell(value: CellValue) -> str | None:
    """An error message when an answer does not fit in an Excel cell, else None."""
    texts = value.values() if isinstance(value, dict) else [value]
    longest = max((len(text) for text in texts), default=0)
    if longest > EXCEL_CELL_LIMIT:
        return f"answer is {longest:,} characters, over Excel's {EXCEL_CELL_LIMIT:,} limit"
    return None


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The error to raise from a failed run: the first fatal provider error, else the first."""
    flat: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop(0)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            flat.append(current)
    fatal = [exc for exc in flat if isinstance(exc, FatalProviderError)]
    return (fatal or flat)[0]


def build_engine(settings: Settings) -> Engine:
    """An engine with the provider from settings.provider_name and the cache at its path."""
    return Engine(settings)
