"""The Python API: sync wrappers over the async engine, one per task.

    excel_glm.translate(["Hola", "Bonjour"], to="English")   -> ["Hello", "Hello"]
    excel_glm.classify(reviews, labels=["positive", "negative"])
    excel_glm.extract(rows, fields=["name", "email"])        -> [{"name": ..., "email": ...}, ...]
    excel_glm.ask(cells, prompt="Summarise in 5 words")

Each returns one answer per input value, in order; a blank input gives None. When any cell fails,
the default `on_error="raise"` raises excel_glm.errors.CellErrors, whose `.values` still holds every
answer that was had (the rest are None) and `.errors` maps each failed index to its message;
`on_error="none"` returns the list with None in the failed cells and emits one warning instead.
A single string in gives a single answer out. Fatal provider errors (wrong key, no balance...)
stop the run: nothing new is sent, the answers of requests in flight are cached, then the error
is raised. The calls also work inside a running event loop (Jupyter): the run then happens on a
worker thread.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from excel_glm.config import Settings, load_settings
from excel_glm.errors import CellErrors
from excel_glm.results import CellValue, RunResult
from excel_glm.tasks import Task, make_task

OnError = Literal["raise", "none"]

__all__ = ["ask", "classify", "extract", "run_task", "translate"]


def run_task(task: Task, values: list[object], settings: Settings | None = None) -> RunResult:
    """Run a task to completion from sync code (also from inside a running event loop)."""
    settings = settings or load_settings()

    async def run() -> RunResult:
        from excel_glm.engine import build_engine

        engine = build_engine(settings)
        try:
            return await engine.run(task, values)
        finally:
            await engine.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    # A loop already runs in this thread (Jupyter): asyncio.run would refuse, so use a worker.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="excel-glm") as pool:
        return pool.submit(asyncio.run, run()).result()


def _call(
    name: str, params: Mapping[str, object], values: Any, settings: Settings | None, on_error: str
) -> Any:
    if on_error not in ("raise", "none"):
        raise ValueError("on_error must be 'raise' or 'none'")
    task = make_task(name, params)
    single = isinstance(values, str)
    cells = [values] if single else list(values)
    result = run_task(task, cells, settings)
    answers: list[CellValue | None] = [cell.value for cell in result.results]
    errors = {i: cell.error for i, cell in enumerate(result.results) if cell.error is not None}
    if errors:
        failure = CellErrors(answers, errors)
        if on_error == "raise":
            raise failure
        warnings.warn(str(failure), stacklevel=3)
    return answers[0] if single else answers


def translate(
    values: Iterable[object] | str,
    to: str,
    from_: str | None = None,
    glossary: Mapping[str, str] | str | None = None,
    *,
    settings: Settings | None = None,
    on_error: OnError = "raise",
) -> list[str | None]:
    """Translate each value into `to` (optionally from `from_`, with a glossary)."""
    params = {"to": to, "from": from_, "glossary": glossary}
    return _call("translate", _given(params), values, settings, on_error)


def classify(
    values: Iterable[object] | str,
    labels: Iterable[str] | str,
    instructions: str | None = None,
    multi_label: bool = False,
    *,
    settings: Settings | None = None,
    on_error: OnError = "raise",
) -> list[str | None]:
    """Give each value one of `labels` (multi_label: every label that applies, comma-joined)."""
    labels = labels if isinstance(labels, str) else list(labels)
    params = {"labels": labels, "instructions": instructions, "multi_label": multi_label}
    return _call("classify", _given(params), values, settings, on_error)


def extract(
    values: Iterable[object] | str,
    fields: Iterable[str] | str,
    *,
    settings: Settings | None = None,
    on_error: OnError = "raise",
) -> list[dict[str, str] | None]:
    """Extract `fields` from each value: a dict with exactly those keys per value."""
    fields = fields if isinstance(fields, str) else list(fields)
    return _call("extract", {"fields": fields}, values, settings, on_error)


def ask(
    values: Iterable[object] | str,
    prompt: str,
    *,
    settings: Settings | None = None,
    on_error: OnError = "raise",
) -> list[str | None]:
    """Apply `prompt` to each value (an empty prompt: each value is its own prompt)."""
    return _call("ask", {"prompt": prompt}, values, settings, on_error)


def _given(params: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in params.items() if value is not None}


if "pandas" in sys.modules:  # pandas is already loaded: registering the accessor costs nothing
    import excel_glm.pandas  # noqa: F401
