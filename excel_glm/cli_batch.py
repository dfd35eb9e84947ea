"""`excel-glm batch submit|status|collect`: workbook jobs through Zhipu's Batch API, at half price.

A thin Typer adapter: the requests come from excel_glm.batch_job, the API from excel_glm.batch and
the answers from excel_glm.batch_collect; the workbook side reuses the task commands' own checks
and writer (excel_glm.cli_workbook_job). Errors are ExcelGlmError subclasses, printed as one line
with exit code 1 by the root command; collect exits 2 when some cells got no answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TASK_OPTIONS = {
    "translate": ("to", "from", "glossary"),
    "classify": ("labels", "instructions", "multi_label"),
    "extract": ("fields",),
    "ask": ("prompt",),
}

batch_app = typer.Typer(
    name="batch",
    help="Run a workbook job through Zhipu's Batch API (half price, answers within 24 h).",
    short_help="Send a job to Zhipu's Batch API; collect it later.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JobRef = Annotated[
    str,
    typer.Argument(help="The job id printed by submit (or the path of its record).", metavar="JOB"),
]


@batch_app.command()
def submit(
    book: Annotated[Path, typer.Argument(help="The workbook to read (.xlsx or .xlsm).")],
    range_spec: Annotated[
        str, typer.Option("--range", "-r", help="Input cells, as for the task commands.")
    ],
    into: Annotated[
        str, typer.Option(help="Where answers will go: a column letter or an anchor cell.")
    ],
    task: Annotated[str, typer.Option("--task", "-t", help="translate, classify, extract or ask.")],
    to: Annotated[str | None, typer.Option("--to", help="translate: target language.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="translate: source language.")] = None,
    glossary: Annotated[
        str | None, typer.Option(help="translate: 'source=target;source=target'.")
    ] = None,
    labels: Annotated[str | None, typer.Option(help="classify: 'a,b,c'.")] = None,
    instructions: Annotated[str | None, typer.Option(help="classify: extra guidance.")] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="classify: several labels per cell.")
    ] = False,
    fields: Annotated[str | None, typer.Option(help="extract: 'name,email'.")] = None,
    prompt: Annotated[str | None, typer.Option(help="ask: the question for every cell.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Allow non-empty target cells (not formulas).")
    ] = False,
    model: Annotated[str | None, typer.Option(help="Model (overrides EXCEL_GLM_MODEL).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be submitted; send nothing.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before a job above confirm_cost_above.")
    ] = False,
) -> None:
    """Upload a range's cells as batch requests and print the job id to check and collect."""
    given = {
        "to": to,
        "from": from_,
        "glossary": glossary,
        "labels": labels,
        "instructions": instructions,
        "multi_label": multi_label or None,
        "fields": fields,
        "prompt": prompt,
    }
    params = _task_params(task, given)
    _submit(book, range_spec, into, task, params, overwrite, model, dry_run, yes)


@batch_app.command()
def status(job: JobRef) -> None:
    """Print each batch's status and request counts."""
    from excel_glm.batch import BatchClient
    from excel_glm.batch_job import load_job

    record = load_job(job)
    with BatchClient(_settings_for(record)) as client:
        infos = [client.get(str(batch["id"])) for batch in record.batches]
    _say(
        f"job {record.id}: {record.task} {Path(record.book).name} {record.range_spec} -> "
        f"{record.into}, {len(infos)} batch(es)"
    )
    for info in infos:
        _say("  " + _describe(info))
    if all(info.terminal for info in infos):
        _say(f"finished: write the answers with `excel-glm batch collect {record.id}`")
    else:
        _say(f"not finished yet: check again later with `excel-glm batch status {record.id}`")


@batch_app.command()
def collect(
    job: JobRef,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output workbook. Default: BOOK.glm.xlsx beside the input.", dir_okay=False
        ),
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Rewrite BOOK itself, after copying it to BOOK.bak.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace non-empty target cells (not formulas).")
    ] = False,
) -> None:
    """Cache every answer of a finished job, then write them into the workbook."""
    code = _collect(job, out, in_place, overwrite)
    if code:
        raise typer.Exit(code)


def _say(line: str, *, err: bool = False) -> None:
    """Print one line like the task commands do (a closed pipe is not an error)."""
    from excel_glm.cli_report import say

    say(line, err=err)


def _task_params(task: str, given: dict[str, object]) -> dict[str, object]:
    """The given options of `task`; an option of another task is refused."""
    from excel_glm.errors import TaskError

    if task not in TASK_OPTIONS:
        raise TaskError(f"--task must be one of {', '.join(TASK_OPTIONS)}, not {task!r}")
    foreign = [
        f"--{name.replace('_', '-')}"
        for name, value in given.items()
        if value is not None and name not in TASK_OPTIONS[task]
    ]
    if foreign:
        raise TaskError(f"{', '.join(foreign)} is not an option of {task}")
    return {name: value for name, value in given.items() if value is not None}


def _settings_for(record):
    """Settings to reach the endpoint and model a job was submitted to."""
    from excel_glm.config import load_settings

    return load_settings(model=record.model, base_url=record.base_url)


def _submit(book, range_spec, into, task_name, params, overwrite, model, dry_run, yes) -> None:

    from excel_glm.batch import BatchClient
    from excel_glm.batch_job import plan_requests, split_files, submit_files
    from excel_glm.cli_report import confirm_spend
    from excel_glm.cli_task_run import can_ask

    settings, task, job = _checked_job(book, range_spec, into, task_name, params, overwrite, model)
    planned = plan_requests(settings, task, job.values)
    if not planned.lines:
        _say(
            f"nothing to submit: all {planned.distinct:,} distinct cells are in the cache; "
            f"`excel-glm {task_name} {book} --range {range_spec!r} --into {into} ...` writes "
            "them at no cost"
        )
        return
    files = split_files(planned.lines)
    estimate = _batch_estimate(settings, task, job.values)
    plan = (
        f"{planned.cells:,} cells, {planned.distinct:,} distinct, {planned.cache_hits:,} cache "
        f"hits; {len(planned.lines):,} requests in {len(files)} file(s), "
        f"estimated ${estimate.cost:.4f} at batch price"
    )
    if dry_run:
        _say(f"dry run: {plan}; nothing sent")
        return
    confirm_spend(
        estimate,
        settings.confirm_cost_above,
        assume_yes=yes,
        interactive=can_ask(),
        ask=lambda question: typer.confirm(question, default=False, err=True),
    )
    record = _new_record(settings, book, range_spec, into, task_name, params, overwrite, planned)
    with BatchClient(settings) as client:
        try:
            submit_files(client, record, files)
        except Exception:
            _explain_partial(record, len(files))
            raise
    _say(f"submitted batch job {record.id}: {plan}")
    _say(f"check it with: excel-glm batch status {record.id}")
    _say(f"when it is finished: excel-glm batch collect {record.id}")


def _checked_job(book, range_spec, into, task_name, params, overwrite, model):
    """Settings, task and the checked workbook job, all before anything is uploaded."""
    from excel_glm.cli_workbook_job import plan_output, prepare_job
    from excel_glm.config import load_settings
    from excel_glm.errors import ConfigError
    from excel_glm.tasks import ExtractTask, make_task

    settings = load_settings(**({"model": model} if model else {}))
    if settings.provider_name != "glm":
        raise ConfigError(
            "the Batch API is Zhipu's: set EXCEL_GLM_API_KEY and leave EXCEL_GLM_PROVIDER unset "
            "or 'glm'"
        )
    task = make_task(task_name, params)
    job = prepare_job(
        book,
        range_spec,
        into,
        width=len(task.fields) if isinstance(task, ExtractTask) else 1,
        output=plan_output(book, None, False),
        overwrite=overwrite,
    )
    return settings, task, job


def _new_record(settings, book, range_spec, into, task_name, params, overwrite, planned):
    import datetime as dt

    from excel_glm.batch_job import BatchJob, new_job_id

    return BatchJob(
        id=new_job_id(),
        book=str(book.resolve()),
        range_spec=range_spec,
        into=into,
        task=task_name,
        params=params,
        model=settings.model,
        base_url=settings.base_url,
        overwrite=overwrite,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        packs=planned.packs,
    )


def _batch_estimate(settings, task, values):
    """The engine's estimate for these cells, at the Batch API's price."""
    import dataclasses

    from excel_glm.batch_collect import BATCH_PRICE_FACTOR
    from excel_glm.engine import Engine

    engine = Engine(settings)
    try:
        estimate = engine.estimate(task, values)
    finally:
        engine.cache.close()
    return dataclasses.replace(estimate, cost=estimate.cost * BATCH_PRICE_FACTOR)


def _explain_partial(record, files: int) -> None:
    """Say which batches exist when a later one could not be created (they are still paid)."""
    if record.batches:
        _say(
            f"{len(record.batches)} of {files} batch(es) were created and saved as job "
            f"{record.id}; collect them with `excel-glm batch collect {record.id}`",
            err=True,
        )


def _describe(info) -> str:
    line = f"{info.id}: {info.status}, {info.completed:,}/{info.total:,} done"
    if info.failed:
        line += f", {info.failed:,} failed"
    if info.created_at is not None:
        line += f" (created {info.created_at:%Y-%m-%d %H:%M} UTC)"
    if info.errors:
        line += "; " + "; ".join(info.errors[:3])
    return line


def _collect(reference: str, out: Path | None, in_place: bool, overwrite: bool) -> int:
    from excel_glm.batch_job import load_job
    from excel_glm.tasks import make_task

    record = load_job(reference)
    settings = _settings_for(record)
    task = make_task(record.task, record.params)
    collected = _fetch_and_cache(settings, record, task)
    return _write_from_cache(settings, record, task, collected, out, in_place, overwrite)


def _fetch_and_cache(settings, record, task):
    """Cache every answer of the finished batches; refuse to go on while one is still running."""
    from excel_glm.batch import BatchClient
    from excel_glm.batch_collect import collect_answers
    from excel_glm.cache import Cache
    from excel_glm.errors import UserError

    with BatchClient(settings) as client:
        cache = Cache(settings.resolved_cache_path)
        try:
            collected = collect_answers(client, record, task, cache)
        finally:
            cache.close()
    if collected.pending:
        first = collected.pending[0]
        raise UserError(
            f"batch {first.id} is still {first.status} ({first.completed:,}/{first.total:,} done); "
            f"{collected.answers:,} answers are in the cache: run `excel-glm batch collect "
            f"{record.id}` again later"
        )
    for info in collected.infos:
        if info.status != "completed":
            _say(_unfinished(info), err=True)
    if collected.answers == 0 and all(i.status == "failed" for i in collected.infos):
        raise UserError(f"job {record.id} has nothing to collect: every batch failed")
    return collected


def _write_from_cache(settings, record, task, collected, out, in_place, overwrite) -> int:
    """Write the job's range like the task command would, from the cache alone."""
    from excel_glm.batch_collect import answer_from_cache
    from excel_glm.cli_task_run import write_run
    from excel_glm.cli_workbook_job import check_output_writable, plan_output, prepare_job
    from excel_glm.errors import UserError
    from excel_glm.tasks import ExtractTask

    book = Path(record.book)
    fields = list(task.fields) if isinstance(task, ExtractTask) else None
    overwrite = overwrite or record.overwrite
    output = plan_output(book, out, in_place)
    try:
        job = prepare_job(
            book,
            record.range_spec,
            record.into,
            width=len(fields) if fields else 1,
            output=output,
            overwrite=overwrite,
        )
        check_output_writable(output.dest)
    except UserError as exc:
        raise type(exc)(
            f"{exc} ({collected.answers:,} answers are in the cache; run collect again once fixed)"
        ) from None
    run = answer_from_cache(settings, record, task, job.values, collected.reasons)
    usage = collected.usage
    usage.cache_hits = max(0, run.usage.cache_hits - collected.answers)
    return write_run(
        job,
        output,
        run,
        fields,
        overwrite=overwrite,
        usage=usage,
        before_summary=f"collected {collected.answers:,} answers from {len(collected.infos)} "
        "batch(es)",
    )


def _unfinished(info) -> str:
    if info.status == "failed":
        why = "; ".join(info.errors[:3]) or "the input file was refused"
        return f"batch {info.id} failed ({why}): its cells are listed as not answered"
    return (
        f"batch {info.id} {info.status} after {info.completed:,} of {info.total:,} requests: "
        "the answered ones are collected, rerun online for the rest"
    )
