"""What the CLI prints: the dry-run estimate, the failed cells, the summary line, the cost question.

Pure functions over results, so each wording is tested without running anything; `say` is the one
place a line is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import typer

from excel_glm.errors import UserError
from excel_glm.results import Estimate, Usage

# How many failed cells are listed one per line; the count always covers all of them.
FAILURES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The numbers of one finished run, for the final line."""

    cells: int
    written: int
    errors: int
    usage: Usage
    output: Path
    backup: Path | None = None
    # Target cells of answered cells left blank because the answer (or an extracted field) was
    # empty: without it "36 cells, 24 written, 0 errors" reads like 12 lost answers.
    empty: int = 0


def format_estimate(estimate: Estimate) -> str:
    """The --dry-run report: what a run would send and cost."""
    tokens = estimate.prompt_tokens + estimate.completion_tokens
    return (
        f"dry run: {estimate.cells:,} cells, {estimate.distinct:,} distinct, "
        f"{estimate.cache_hits:,} cache hits, ~{tokens:,} tokens "
        f"({estimate.prompt_tokens:,} in, {estimate.completion_tokens:,} out), "
        f"estimated cost ${estimate.cost:.4f}; nothing sent, nothing written"
    )


def format_summary(summary: RunSummary) -> str:
    """The one line printed when a run ends."""
    usage = summary.usage
    tokens = usage.prompt_tokens + usage.completion_tokens
    empty = f" ({summary.empty:,} empty answers left blank)" if summary.empty else ""
    line = (
        f"{summary.cells:,} cells, {summary.written:,} written{empty}, {summary.errors:,} errors, "
        f"{usage.cache_hits:,} cache hits, {usage.requests:,} requests, {tokens:,} tokens, "
        f"${usage.cost:.4f} -> {summary.output}"
    )
    if summary.backup is not None:
        line += f" (input backed up to {summary.backup})"
    return line


def format_failures(failures: Sequence[tuple[str, str]]) -> list[str]:
    """The failed cells: a count, then the first few addresses with their messages."""
    if not failures:
        return []
    lines = [f"{len(failures):,} cell(s) failed and were left empty:"]
    lines += [f"  {address}: {message}" for address, message in failures[:FAILURES_SHOWN]]
    if len(failures) > FAILURES_SHOWN:
        lines.append(f"  ... and {len(failures) - FAILURES_SHOWN:,} more")
    return lines


def confirm_spend(
    estimate: Estimate,
    threshold: float,
    *,
    assume_yes: bool,
    interactive: bool,
    ask: Callable[[str], bool],
) -> None:
    """Ask before spending more than `threshold`; refuse without a terminal to ask on.

    Raises UserError when the user declines or cannot be asked.
    """
    if assume_yes or estimate.cost <= threshold:
        return
    cost = f"${estimate.cost:.4f}"
    if not interactive:
        raise UserError(
            f"the estimated cost {cost} is above confirm_cost_above (${threshold:.2f}) and "
            "there is no terminal to ask: pass --yes to run anyway"
        )
    question = f"Estimated cost {cost} ({estimate.distinct:,} distinct cells). Go on?"
    if not ask(question):
        raise UserError("cancelled: nothing was sent")


def say(line: str, *, err: bool = False) -> bool:
    """Print one line to stdout (stderr if `err`); False if the stream is closed, full or broken.

    The run is over by the time most lines are printed: a pipe closed by `head` or a full disk
    must not turn a written workbook into a traceback and the wrong exit code.
    """
    stream = sys.stderr if err else sys.stdout
    try:
        try:
            typer.echo(line, err=err)
        except UnicodeEncodeError:
            # A redirected stream in a legacy code page (Windows' cp1252) cannot carry every
            # name and answer: print what it can rather than fail after the work is done.
            encoding = getattr(stream, "encoding", None) or "ascii"
            typer.echo(line.encode(encoding, "replace").decode(encoding), err=err)
    except OSError:
        _silence(stream)
        return False
    return True


def _silence(stream: object) -> None:
    # What the text failed to flush is still buffered: point the descriptor at the null device so
    # the interpreter's last flush succeeds instead of printing "Exception ignored" (exit 120).
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test runner's buffer)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
