"""The `excel-glm` command line: a thin Typer adapter over the engine and the workbook library.

Exit codes: 0 every cell answered; 1 a user error (bad option, file, range, settings) or a fatal
provider error (bad key, empty balance...), with one line on stderr and no output file; 2 the run
finished but some cells failed (they are left empty and listed); 130 interrupted.
Heavy modules are imported inside the commands so that `--help` stays instant.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from excel_glm.cli_batch import batch_app
from excel_glm.errors import ExcelGlmError

try:  # Typer >= 0.26 vendors Click and roots Click's errors in TyperException.
    from typer import TyperException as _ClickError
except ImportError:  # older Typer runs on Click itself
    from click import ClickException as _ClickError


class _OneLineErrorsGroup(TyperGroup):
    """Turns every expected failure into one `error: ...` line and a documented exit code.

    Click's own usage errors would exit 2, which this CLI keeps for "some cells failed"; they exit 1
    here like every other user error.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = _run_reporting_errors(
            lambda: super(_OneLineErrorsGroup, self).main(
                args=args,
                prog_name=prog_name or "excel-glm",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


# Where an API key may come from: error lines are scrubbed of these values as a last guard.
_KEY_VARIABLES = ("EXCEL_GLM_API_KEY", "ZAI_API_KEY", "ZHIPUAI_API_KEY")


def _redact(message: str) -> str:
    for name in _KEY_VARIABLES:
        key = os.environ.get(name, "").strip()
        if len(key) >= 8:
            message = message.replace(key, "***")
    return message


def _run_reporting_errors(invoke: Callable[[], object]) -> int:
    """Run the command; print an expected failure as one `error: ...` line; return the exit code."""
    from excel_glm.cli_report import say

    try:
        result = invoke()
    except _ClickError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `excel-glm`: its message is the help
            say(exc.format_message())
            return 0
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        say(f"error: {exc.format_message()}{hint}", err=True)
        return 1
    except typer.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # Click's wrapping of Ctrl+C
            say("interrupted", err=True)
            return 130
        say("error: aborted", err=True)
        return 1
    except ExcelGlmError as exc:
        # Providers build these messages without the API key; _redact is a second guard.
        message = " ".join(str(exc).split()) or type(exc).__name__
        say(f"error: {_redact(message)}", err=True)
        return 1
    except KeyboardInterrupt:  # outside Click's own handling (a run reports its own)
        say("interrupted", err=True)
        return 130
    except Exception as exc:
        # A bug, not the user's doing: still one line, and the traceback only when asked for.
        if os.environ.get("EXCEL_GLM_DEBUG"):
            raise
        message = " ".join(str(exc).split())
        say(
            f"error: internal error ({type(exc).__name__}: {_redact(message)}); this is a bug in "
            "excel-glm: please report it (EXCEL_GLM_DEBUG=1 shows the traceback)",
            err=True,
        )
        return 1
    return result if isinstance(result, int) else 0


app = typer.Typer(
    name="excel-glm",
    cls=_OneLineErrorsGroup,
    help="Put GLM-5 to work on spreadsheet cells: translate, classify, extract, ask.",
    epilog="With EXCEL_GLM_API_KEY set, GLM-5 answers; without it, a small embedded model runs "
    "offline. Exit codes: 0 done, 1 nothing done (one error line), 2 written but some cells "
    "failed, 130 interrupted. 'excel-glm COMMAND --help' lists a command's options.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(batch_app, name="batch")


def _print_version(value: bool) -> None:
    if value:
        from excel_glm import __version__

        typer.echo(f"excel-glm {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Options that come before the command."""


# Options every task command shares.
Book = Annotated[
    Path,
    typer.Argument(
        metavar="BOOK", help="The workbook to read (.xlsx or .xlsm).", show_default=False
    ),
]
RangeSpec = Annotated[
    str,
    typer.Option(
        "--range",
        "-r",
        help="Input cells: 'Sheet!B2:B100', \"'My Sheet'!B2:B9\", 'B:B' (whole column) or 'B2:B9' "
        "(first sheet).",
        show_default=False,
    ),
]
Into = Annotated[
    str,
    typer.Option(
        help="Where answers go: a column letter (same rows as the input) or an anchor cell like "
        "C5. Extract fills one column per field from there.",
        show_default=False,
    ),
]
Out = Annotated[
    Path | None,
    typer.Option(help="Output workbook. Default: BOOK.glm.xlsx beside the input.", dir_okay=False),
]
InPlace = Annotated[
    bool,
    typer.Option(
        "--in-place", help="Rewrite BOOK itself, after copying it to BOOK.bak (BOOK.xlsx.bak)."
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print cells, distinct cells, cache hits, tokens and cost; call nothing."
    ),
]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask before a run above confirm_cost_above.")
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace non-empty target cells (formula cells are never replaced)."
    ),
]
ProviderName = Annotated[
    str | None,
    typer.Option("--provider", help="glm, openai or local (overrides EXCEL_GLM_PROVIDER)."),
]
Model = Annotated[
    str | None, typer.Option("--model", help="Model name (overrides EXCEL_GLM_MODEL).")
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        "--concurrency", min=1, help="Requests in flight (overrides EXCEL_GLM_CONCURRENCY)."
    ),
]


def _run(task_name: str, params: dict[str, object], **options: Any) -> None:
    from excel_glm.cli_task_run import JobOptions, run_task_command

    code = run_task_command(task_name, params, JobOptions(**options))
    if code:
        raise typer.Exit(code)


@app.command()
def translate(
    book: Book,
    range_spec: RangeSpec,
    into: Into,
    to: Annotated[str, typer.Option("--to", help="Target language, e.g. English.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Source language (default: detect).")
    ] = None,
    glossary: Annotated[
        str | None, typer.Option(help="Fixed translations, 'source=target;source=target'.")
    ] = None,
    out: Out = None,
    in_place: InPlace = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    overwrite: Overwrite = False,
    provider: ProviderName = None,
    model: Model = None,
    concurrency: Concurrency = None,
) -> None:
    """Translate each cell of a range into another language."""
    _run(
        "translate",
        {"to": to, "from": from_, "glossary": glossary},
        **_job_options(locals()),
    )


@app.command()
def classify(
    book: Book,
    range_spec: RangeSpec,
    into: Into,
    labels: Annotated[str, typer.Option(help="The labels, comma-separated: 'pos,neg,neutral'.")],
    instructions: Annotated[
        str | None, typer.Option(help="Extra guidance on how to choose a label.")
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="Allow several labels per cell.")
    ] = False,
    out: Out = None,
    in_place: InPlace = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    overwrite: Overwrite = False,
    provider: ProviderName = None,
    model: Model = None,
    concurrency: Concurrency = None,
) -> None:
    """Give each cell of a range one of a fixed set of labels."""
    _run(
        "classify",
        {"labels": labels, "instructions": instructions, "multi_label": multi_label},
        **_job_options(locals()),
    )


@app.command(short_help="Pull named fields out of each cell, one column per field.")
def extract(
    book: Book,
    range_spec: RangeSpec,
    into: Into,
    fields: Annotated[str, typer.Option(help="Fields to pull out, comma-separated: 'name,email'.")],
    out: Out = None,
    in_place: InPlace = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    overwrite: Overwrite = False,
    provider: ProviderName = None,
    model: Model = None,
    concurrency: Concurrency = None,
) -> None:
    """Pull named fields out of each cell; one output column per field, in field order."""
    _run("extract", {"fields": fields}, **_job_options(locals()))


@app.command()
def ask(
    book: Book,
    range_spec: RangeSpec,
    into: Into,
    prompt: Annotated[
        str, typer.Option(help="The question asked of every cell; empty: each cell is the prompt.")
    ] = "",
    out: Out = None,
    in_place: InPlace = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    overwrite: Overwrite = False,
    provider: ProviderName = None,
    model: Model = None,
    concurrency: Concurrency = None,
) -> None:
    """Ask the model a question about each cell of a range."""
    _run("ask", {"prompt": prompt}, **_job_options(locals()))


_JOB_OPTION_NAMES = (
    "book",
    "range_spec",
    "into",
    "out",
    "in_place",
    "dry_run",
    "yes",
    "overwrite",
    "provider",
    "model",
    "concurrency",
)


def _job_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The shared options out of a command's arguments."""
    return {name: arguments[name] for name in _JOB_OPTION_NAMES}


@app.command(short_help="Run the local service for the Office add-in and xlwings UDFs.")
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Loopback address to listen on [default: settings, 127.0.0.1]."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port [default: EXCEL_GLM_PORT, else 8765]."),
    ] = None,
    http: Annotated[
        bool, typer.Option("--http", help="Plain HTTP instead of HTTPS (not for the add-in).")
    ] = False,
) -> None:
    """Run the local service the Office add-in and the xlwings UDFs talk to."""
    from excel_glm.config import load_settings
    from excel_glm.server.run import serve as serve_app

    # The UDFs and the add-in find the service through the same settings, so the defaults
    # come from there rather than from constants of this command.
    settings = load_settings()
    serve_app(
        settings,
        host=host or settings.host,
        port=port or settings.port,
        use_https=not http,
    )


@app.command(short_help="Print (or write) the setup for the xlwings UDFs.")
def xlwings(
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Write the setup code to this file instead of printing it."),
    ] = None,
) -> None:
    """Print (or write) what to paste into an xlwings workbook to get the GLM UDFs."""
    from excel_glm.config import load_settings
    from excel_glm.udfs_setup import setup_text

    text = setup_text(load_settings())
    if write is None:
        typer.echo(text)
        return
    try:
        write.write_text(text, encoding="utf-8")
    except OSError as exc:
        from excel_glm.errors import UserError

        raise UserError(f"cannot write {write}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {write}")


def main() -> None:
    """Entry point of the `excel-glm` script."""
    app()


if __name__ == "__main__":
    main()
