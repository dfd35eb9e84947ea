"""One task command from start to end: settings, checks, estimate, run, write, report.

Order matters and is the point of this module: everything that can be refused is refused before
the first model call, and nothing is written unless the run finished (a fatal provider error leaves
no output file; the answers already received are in the cache, so a rerun resumes).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from excel_glm.cli_progress import RunProgressBar
from excel_glm.cli_report import (
    RunSummary,
    confirm_spend,
    format_estimate,
    format_failures,
    format_summary,
    say,
)
from excel_glm.cli_workbook_job import (
    OutputPlan,
    WorkbookJob,
    answers_to_write,
    check_book,
    check_output_writable,
    plan_output,
    prepare_job,
    write_output,
)
from excel_glm.config import Settings, load_settings
from excel_glm.engine import build_engine
from excel_glm.results import RunResult, Usage
from excel_glm.tasks import Task, make_task

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_SOME_CELLS_FAILED = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class JobOptions:
    """The options every task command shares."""

    book: Path
    range_spec: str
    into: str
    out: Path | None = None
    in_place: bool = False
    dry_run: bool = False
    yes: bool = False
    overwrite: bool = False
    provider: str | None = None
    model: str | None = None
    concurrency: int | None = None


INTERRUPTED_MESSAGE = (
    "interrupted: answers received so far are cached; run the same command to resume"
)


def run_task_command(task_name: str, params: dict[str, object], options: JobOptions) -> int:
    """Run one task over a workbook range and return the process exit code.

    User errors and fatal provider errors propagate as exceptions (the CLI prints them as one line).
    Ctrl+C at any point, the write included, ends with one line and exit 130: the output is
    written to a temporary file renamed into place, so it is either whole or absent.
    """
    try:
        return _run_task_command(task_name, params, options)
    except KeyboardInterrupt:
        say(INTERRUPTED_MESSAGE, err=True)
        return EXIT_INTERRUPTED


def _run_task_command(task_name: str, params: dict[str, object], options: JobOptions) -> int:
    check_book(options.book)
    overrides = {
        name: value
        for name in ("provider", "model", "concurrency")
        if (value := getattr(options, name)) is not None
    }
    settings = load_settings(**overrides)
    task = make_task(task_name, {k: v for k, v in params.items() if v is not None})
    fields = list(task.fields) if task_name == "extract" else None
    output = plan_output(options.book, options.out, options.in_place)
    job = prepare_job(
        options.book,
        options.range_spec,
        options.into,
        width=len(fields) if fields else 1,
        output=output,
        overwrite=options.overwrite,
    )
    if not options.dry_run:
        check_output_writable(output.dest)
    run = asyncio.run(_estimate_and_run(settings, task, job, options))
    if run is None:  # dry run
        return EXIT_OK
    return write_run(job, output, run, fields, overwrite=options.overwrite, usage=run.usage)


def write_run(
    job: WorkbookJob,
    output: OutputPlan,
    run: RunResult,
    fields: list[str] | None,
    *,
    overwrite: bool,
    usage: Usage,
    before_summary: str | None = None,
) -> int:
    """Write a finished run's answers, list the cells that failed, print the summary line;
    returns the exit code. The task commands and `batch collect` end the same way."""
    values, failures = answers_to_write(job, run.results, fields)
    written = write_output(job, values, overwrite=overwrite)
    for line in format_failures([(f.address, f.message) for f in failures]):
        say(line, err=True)
    summary = RunSummary(
        cells=sum(1 for r in run.results if r.value is not None or r.error is not None),
        written=written,
        errors=len(failures),
        usage=usage,
        output=output.dest,
        backup=output.backup,
        empty=_answered_targets(job, run) - len(values),
    )
    if before_summary:
        say(before_summary)
    say(format_summary(summary))
    return EXIT_SOME_CELLS_FAILED if failures else EXIT_OK


def can_ask() -> bool:
    """True when a person can answer a question: stdin is open and a terminal."""
    stdin = sys.stdin  # None when the shell closed it (`<&-`)
    return stdin is not None and not stdin.closed and stdin.isatty()


def _answered_targets(job: WorkbookJob, run: RunResult) -> int:
    """Target cells of every cell that got an answer (one per field for extract)."""
    return sum(
        len(targets)
        for targets, result in zip(job.targets, run.results, strict=True)
        if result.error is None and result.value is not None
    )


async def _estimate_and_run(
    settings: Settings, task: Task, job: WorkbookJob, options: JobOptions
) -> RunResult | None:
    """Estimate, ask if it is dear, then run with a progress bar; None for a dry run."""
    engine = build_engine(settings)
    try:
        values = job.values
        estimate = engine.estimate(task, values)
        if options.dry_run:
            say(format_estimate(estimate))
            return None
        confirm_spend(
            estimate,
            settings.confirm_cost_above,
            assume_yes=options.yes,
            interactive=can_ask(),
            ask=lambda question: typer.confirm(question, default=False, err=True),
        )
        console = Console(stderr=True)
        label = f"{task.name} {job.sheet}"
        with RunProgressBar(console, total=estimate.cells, label=label) as bar:
            return await engine.run(task, values, on_progress=bar.update)
    finally:
        await engine.aclose()
