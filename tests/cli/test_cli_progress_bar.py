"""The progress bar shows cells done, cache hits, tokens and cost from the engine's snapshots."""

from __future__ import annotations

import io

from rich.console import Console

from excel_glm.cli_progress import RunProgressBar
from excel_glm.results import Progress, Usage


def test_bar_renders_the_latest_snapshot_on_a_terminal():
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=160)
    usage = Usage(prompt_tokens=1200, completion_tokens=34, cost=0.0042)
    with RunProgressBar(console, total=10, label="translate Reviews") as bar:
        bar.update(Progress(done=7, total=10, cache_hits=3, usage=usage))
    text = stream.getvalue()
    assert "translate Reviews" in text
    assert "7/10" in text and "cache hits 3" in text
    assert "1,234 tokens" in text and "$0.0042" in text


def test_bar_draws_nothing_when_not_on_a_terminal():
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False)
    with RunProgressBar(console, total=2, label="ask") as bar:
        bar.update(Progress(done=2, total=2, cache_hits=0, usage=Usage()))
    assert stream.getvalue() == ""
