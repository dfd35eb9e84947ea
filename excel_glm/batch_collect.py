"""Collecting a batch job: download its answers, cache every valid one, then answer from the cache.

Lines are matched by custom_id (the output order is not guaranteed), each pack answer is read by
the engine's own parser (`read_pack_answer`) and checked by the task's validation, and every valid
answer is in the cache before anything else happens: a paid answer is never lost, whatever the
workbook write does next. The write then runs the engine over the range with a provider that only
says why a cell has no answer, so the cells come out exactly as an online run would give them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from excel_glm.batch import BatchClient, BatchInfo, read_jsonl
from excel_glm.batch_job import PROVIDER, BatchJob
from excel_glm.cache import Cache
from excel_glm.config import Settings
from excel_glm.engine.packing import read_pack_answer
from excel_glm.engine.pricing import cost_usd
from excel_glm.engine.runner import FILTERED, Engine, too_long_for_a_cell
from excel_glm.errors import ProviderError
from excel_glm.providers.base import Capabilities, ChatRequest, Completion
from excel_glm.providers.glm import error_fields
from excel_glm.results import CellValue, RunResult, Usage
from excel_glm.tasks import Task

# Zhipu bills Batch requests at half the online price.
BATCH_PRICE_FACTOR = 0.5
NOT_IN_BATCH = (
    "no answer from the batch for this cell (not part of the job, or the workbook changed): "
    "run the task command to answer it online"
)
NO_VALID_ANSWER = "the batch gave no valid answer for this cell: rerun online to retry it"
CUT_ANSWER = "the batch answer was cut at max_tokens: rerun online to retry this cell"
INFERENCE_ERROR = "the model reported an inference error in the batch: rerun online to retry it"


@dataclass
class Collected:
    """What the batches of a job gave: statuses, answers cached, and why other cells got none."""

    infos: list[BatchInfo]
    answers: int = 0
    requests: int = 0
    reasons: dict[str, str] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)

    @property
    def pending(self) -> list[BatchInfo]:
        """Batches still running (their answers are not available yet)."""
        return [info for info in self.infos if not info.terminal]


def collect_answers(client: BatchClient, job: BatchJob, task: Task, cache: Cache) -> Collected:
    """Download the finished batches' output and error files and cache every valid answer."""
    collected = Collected(infos=[client.get(str(batch["id"])) for batch in job.batches])
    good: dict[str, tuple[str, CellValue]] = {}
    for batch, info in zip(job.batches, collected.infos, strict=True):
        if not info.terminal:
            continue
        lines: list[dict[str, Any]] = []
        for file_id in (info.output_file_id, info.error_file_id):
            if file_id:
                lines += read_jsonl(client.content(file_id))
        # Every cell of the batch starts with "no line came back"; its line, if any, says more.
        for custom_id in batch.get("custom_ids") or []:
            for _, text in job.packs.get(str(custom_id), []):
                collected.reasons[text] = _no_line(info)
        for line in lines:
            pack = job.packs.get(str(line.get("custom_id")))
            if pack is None:
                continue  # not a line of this job
            collected.requests += 1
            answers, reasons = read_line(line, pack, task, scrub=client.chat.scrub)
            for key, text, value in answers:
                good[text] = (key, value)
            collected.reasons.update(reasons)
            _add_usage(collected.usage, line)
    # The checkpoint: stored before the workbook is even looked at.
    cache.put_many(good.values(), provider=PROVIDER, model=job.model, task=job.task)
    for text in good:
        collected.reasons.pop(text, None)
    collected.answers = len(good)
    collected.usage.cost = BATCH_PRICE_FACTOR * cost_usd(
        job.model,
        collected.usage.prompt_tokens,
        collected.usage.cached_tokens,
        collected.usage.completion_tokens,
    )
    collected.usage.requests = collected.requests
    return collected


def _no_line(info: BatchInfo) -> str:
    if info.status == "completed":
        return f"batch {info.id} returned no answer for this cell: rerun online to answer it"
    return f"batch {info.id} {info.status} before answering this cell: rerun online to answer it"


def read_line(
    line: dict[str, Any], pack: Sequence[Sequence[str]], task: Task, *, scrub=str
) -> tuple[list[tuple[str, str, CellValue]], dict[str, str]]:
    """The valid answers of one output or error line as (key, text, value), and the reason each
    other cell of its pack got none."""
    response = line.get("response") if isinstance(line.get("response"), dict) else {}
    body = response.get("body") if isinstance(response.get("body"), dict) else {}
    error = line.get("error") or body.get("error")
    status = response.get("status_code")
    if error or status != 200:
        code, message = error_fields({"error": error} if error else body)
        reason = f"the batch request failed: GLM error {code or status or 'unknown'}"
        if message:
            reason += f": {scrub(message)}"
        return [], {text: reason for _, text in pack}
    try:
        choice = body["choices"][0]
        content = choice.get("message", {}).get("content") or ""
        finish = choice.get("finish_reason") or "stop"
    except (KeyError, IndexError, TypeError, AttributeError):
        return [], {text: NO_VALID_ANSWER for _, text in pack}
    stopped = {
        "sensitive": FILTERED,
        "length": CUT_ANSWER,
        "model_context_window_exceeded": CUT_ANSWER,
        "network_error": INFERENCE_ERROR,
    }
    if finish in stopped:
        return [], {text: stopped[finish] for _, text in pack}
    raw = read_pack_answer(content if isinstance(content, str) else "", len(pack))
    answers: list[tuple[str, str, CellValue]] = []
    reasons: dict[str, str] = {}
    for position, (key, text) in enumerate(pack):
        value = task.validate(raw[position]) if position in raw else None
        if value is None:
            reasons[text] = NO_VALID_ANSWER
        elif too_long_for_a_cell(value):
            reasons[text] = too_long_for_a_cell(value) or NO_VALID_ANSWER
        else:
            answers.append((key, text, value))
    return answers, reasons


def _add_usage(usage: Usage, line: dict[str, Any]) -> None:
    body = (line.get("response") or {}).get("body") or {}
    counts = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(counts, dict):
        return
    details = counts.get("prompt_tokens_details") or {}
    usage.prompt_tokens += int(counts.get("prompt_tokens") or 0)
    usage.completion_tokens += int(counts.get("completion_tokens") or 0)
    usage.cached_tokens += int(details.get("cached_tokens") or 0)


class CacheOnlyProvider:
    """A provider that never calls a model: a cell the cache lacks gets the batch's reason."""

    name = PROVIDER
    base_url = "batch-collect://cache-only"
    capabilities = Capabilities()

    def __init__(self, model: str, reasons: dict[str, str]) -> None:
        self.model = model
        self._reasons = reasons

    async def complete(self, request: ChatRequest) -> Completion:
        """Raise the reason the single cell of `request` has no batch answer."""
        try:
            items = json.loads(request.messages[-1]["content"])["items"]
            text = str(items[0]["text"])
        except (KeyError, IndexError, TypeError, ValueError):
            text = ""
        # A ProviderError that is neither retryable nor fatal fails just this cell.
        raise ProviderError(self._reasons.get(text, NOT_IN_BATCH))

    async def aclose(self) -> None:
        """Nothing to release."""


def answer_from_cache(
    settings: Settings, job: BatchJob, task: Task, values: Sequence[object], reasons: dict[str, str]
) -> RunResult:
    """Run the engine over `values` with nothing but the cache; the rest get their reasons."""
    # One cell per request, so each missing cell gets its own reason.
    local = settings.model_copy(update={"pack_max_items": 1, "model": job.model})
    engine = Engine(
        local,
        provider=CacheOnlyProvider(job.model, reasons),
        cache=Cache(local.resolved_cache_path),
    )

    async def run() -> RunResult:
        try:
            return await engine.run(task, values)
        finally:
            await engine.aclose()

    return asyncio.run(run())
