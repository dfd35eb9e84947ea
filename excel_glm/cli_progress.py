"""The CLI's progress bar: cells done, cache hits, tokens, cost so far and time left, on stderr."""

from __future__ import annotations

from types import TracebackType

from rich import progress as rich_progress
from rich.console import Console

from excel_glm.results import Progress


class RunProgressBar:
    """A rich progress bar fed by the engine's `on_progress` callback.

    Use it as a context manager; `update` is the callback. On a console that is not a terminal it
    draws nothing (the summary line says it all), so logs and pipes stay clean.
    """

    def __init__(self, console: Console, total: int, label: str) -> None:
        self._bar = rich_progress.Progress(
            rich_progress.TextColumn("{task.description}"),
            rich_progress.BarColumn(),
            rich_progress.MofNCompleteColumn(),
            rich_progress.TextColumn("cache hits {task.fields[cache_hits]:,}"),
            rich_progress.TextColumn("{task.fields[tokens]:,} tokens"),
            rich_progress.TextColumn("${task.fields[cost]:.4f}"),
            rich_progress.TextColumn("ETA"),
            rich_progress.TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
            transient=False,
        )
        self._task = self._bar.add_task(label, total=total, cache_hits=0, tokens=0, cost=0.0)

    def __enter__(self) -> RunProgressBar:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def update(self, progress: Progress) -> None:
        """Show the engine's latest snapshot."""
        usage = progress.usage
        self._bar.update(
            self._task,
            completed=progress.done,
            total=progress.total,
            cache_hits=progress.cache_hits,
            tokens=usage.prompt_tokens + usage.completion_tokens,
            cost=usage.cost,
        )
