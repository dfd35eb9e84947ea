"""A user's slips and accidents: a folder for BOOK, Ctrl+C while writing, a full or closed stdout,
a bug. Each ends in one line on stderr and the documented exit code, never a traceback, and never
leaves half a workbook behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from excel_glm import __version__

from .cli_helpers import cell_values

SECRET_KEY = "sk-journey-DISTINCT-7f3a9c.secret"
INTERRUPTED = "interrupted: answers received so far are cached; run the same command to resume"


def _translate(run_cli, book, *extra):
    return run_cli("translate", book, "-r", "Data!B2:B5", "--into", "C", "--to", "English", *extra)


def _leftovers(folder: Path) -> list[str]:
    """Files a run may have left beside the input: outputs, temporaries, backups."""
    return sorted(p.name for p in folder.iterdir() if p.name != "book.xlsx")


def test_a_folder_given_as_book_is_refused_in_one_line(run_cli, glm_env, tmp_path):
    outcome = _translate(run_cli, tmp_path)

    assert outcome.exit_code == 1
    assert outcome.stderr_lines == [
        f"error: {tmp_path} is a folder, not a workbook: give the .xlsx or .xlsm file"
    ]
    assert glm_env.requests == []


def test_ctrl_c_while_the_workbook_is_written_leaves_no_file_and_exits_130(
    run_cli, glm_env, book, tmp_path, monkeypatch
):
    import excel_glm.workbook.write as writer

    def interrupted_midway(package, part, values, overwrite, handle):
        handle.write(b"PK\x03\x04 half a workbook")
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_write_package", interrupted_midway)

    outcome = _translate(run_cli, book)

    assert outcome.exit_code == 130
    assert outcome.stderr_lines == [INTERRUPTED]
    assert outcome.stdout == ""
    assert _leftovers(tmp_path) == []


def test_ctrl_c_during_the_in_place_backup_keeps_the_previous_backup_whole(
    run_cli, glm_env, book, tmp_path, monkeypatch
):
    backup = tmp_path / "book.xlsx.bak"
    backup.write_bytes(b"the previous backup")
    original = book.read_bytes()

    def interrupted_copy(source, dest, **kwargs):
        Path(dest).write_bytes(Path(source).read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copy2", interrupted_copy)

    outcome = _translate(run_cli, book, "--in-place")

    assert outcome.exit_code == 130
    assert backup.read_bytes() == b"the previous backup"
    assert book.read_bytes() == original
    assert _leftovers(tmp_path) == ["book.xlsx.bak"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_stdout_does_not_turn_a_written_workbook_into_a_traceback(glm_env, book, tmp_path):
    with open("/dev/full", "w") as full:
        process = subprocess.run(
            [sys.executable, "-m", "excel_glm.cli", "translate", str(book), "-r", "Data!B2:B5",
             "--into", "C", "--to", "English"],
            env=dict(os.environ), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip

    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    output = tmp_path / "book.glm.xlsx"
    assert cell_values(output, "Data", "C", range(2, 3)) == ["[English] Bonjour le monde"]


def test_a_bug_is_reported_in_one_line_without_the_api_key(
    run_cli, glm_env, book, tmp_path, monkeypatch
):
    import excel_glm.cli_task_run as task_run

    monkeypatch.setenv("EXCEL_GLM_API_KEY", SECRET_KEY)
    monkeypatch.delenv("EXCEL_GLM_DEBUG")  # as a user runs it

    def broken(*args, **kwargs):
        raise RuntimeError(f"unexpected state near {SECRET_KEY}")

    monkeypatch.setattr(task_run, "prepare_job", broken)

    outcome = _translate(run_cli, book)

    assert outcome.exit_code == 1
    assert len(outcome.stderr_lines) == 1
    line = outcome.stderr_lines[0]
    assert line.startswith("error: internal error (RuntimeError: unexpected state near ")
    assert "bug" in line
    assert SECRET_KEY not in outcome.stderr + outcome.stdout
    assert _leftovers(tmp_path) == []


def test_help_lists_every_command_in_full_and_version_prints_it(run_cli):
    help_text = run_cli("--help").stdout
    version = run_cli("--version")

    commands = help_text.split("Commands:")[1]
    for command in ("translate", "classify", "extract", "ask", "serve", "xlwings"):
        assert f"  {command} " in commands
    assert "..." not in commands  # no command's summary is cut short
    assert "Exit codes" in help_text
    assert version.exit_code == 0
    assert version.stdout.strip() == f"excel-glm {__version__}"


def test_the_summary_counts_empty_answers_so_written_plus_empty_covers_every_target(
    run_cli, glm_env, book, tmp_path
):
    outcome = run_cli("extract", book, "-r", "Data!B2:B5", "--into", "C", "--fields", "name,email")

    assert outcome.exit_code == 0, outcome.stderr
    output = tmp_path / "book.glm.xlsx"
    answered_rows = [2, 3, 5]  # row 4 is blank: no answer, no target
    targets = [
        value for column in ("C", "D") for value in cell_values(output, "Data", column, range(2, 6))
    ]
    written = sum(1 for value in targets if value)
    empty = len(answered_rows) * 2 - written
    assert empty > 0  # the oracle finds no e-mail address in "Bonjour le monde"
    assert f"3 cells, {written} written ({empty} empty answers left blank), 0 errors" in (
        outcome.stdout
    )


def test_a_dear_run_with_stdin_closed_is_refused_as_having_no_one_to_ask(
    glm_env, book, tmp_path, monkeypatch
):
    monkeypatch.setenv("EXCEL_GLM_CONFIRM_COST_ABOVE", "0")
    command = (
        f'exec "{sys.executable}" -m excel_glm.cli translate "{book}" -r Data!B2:B5 '
        "--into C --to English <&-"
    )
    process = subprocess.run(
        ["sh", "-c", command], env=dict(os.environ), capture_output=True, text=True, timeout=120
    )

    assert process.returncode == 1
    assert len(process.stderr.strip().splitlines()) == 1
    assert "no terminal to ask: pass --yes" in process.stderr
    assert glm_env.requests == []
    assert _leftovers(tmp_path) == []


def test_an_output_locked_after_the_run_says_the_rerun_is_free_and_leaves_no_file(
    run_cli, glm_env, book, tmp_path, monkeypatch
):
    real_replace = os.replace
    locked = {"now": True}

    # What Windows answers when Excel holds the output open: the rename is refused.
    def replace(source, dest):
        if locked["now"]:
            raise PermissionError(13, "Permission denied")
        real_replace(source, dest)

    monkeypatch.setattr(os, "replace", replace)

    outcome = _translate(run_cli, book)
    paid = len(glm_env.requests)

    assert outcome.exit_code == 1
    assert len(outcome.stderr_lines) == 1
    line = outcome.stderr_lines[0]
    assert "Permission denied" in line and "run the same command again" in line
    assert _leftovers(tmp_path) == []

    locked["now"] = False  # the user closed the file in Excel
    rerun = _translate(run_cli, book)

    assert rerun.exit_code == 0, rerun.stderr
    assert len(glm_env.requests) == paid  # answered from the cache
    assert cell_values(tmp_path / "book.glm.xlsx", "Data", "C", range(2, 3)) == [
        "[English] Bonjour le monde"
    ]


def test_a_summary_its_code_page_cannot_show_still_ends_the_run_with_exit_0(
    glm_env, tmp_path, sample_copy
):
    # Windows redirects stdout in the ANSI code page (cp1252): a Japanese file name has no bytes.
    book = sample_copy.rename(tmp_path / "評価.xlsx")
    process = subprocess.run(
        [sys.executable, "-m", "excel_glm.cli", "translate", str(book), "-r", "Reviews!B2:B3",
         "--into", "F", "--to", "English"],
        env={**os.environ, "PYTHONIOENCODING": "cp1252"}, capture_output=True, timeout=120,
    )  # fmt: skip

    assert process.returncode == 0, process.stderr
    assert process.stdout.decode("cp1252").startswith("2 cells, 2 written, 0 errors")
    assert (tmp_path / "評価.glm.xlsx").is_file()
