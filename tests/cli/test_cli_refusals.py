"""Bad input and fatal provider errors: one line on stderr, exit 1, no output file, no call."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from .cli_helpers import CORPUS, write_book

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _assert_refused(outcome, fake, folder, *, mentions: str) -> None:
    assert outcome.exit_code == 1, (outcome.stdout, outcome.stderr)
    assert len(outcome.stderr_lines) == 1, outcome.stderr
    assert outcome.stderr_lines[0].startswith("error: ")
    assert mentions.lower() in outcome.stderr.lower()
    assert "Traceback" not in outcome.stderr
    assert fake.requests == []
    assert not [p for p in folder.iterdir() if ".glm." in p.name or p.name.startswith(".")]


def _translate(run_cli, path, range_spec="Data!B2:B3", *extra):
    return run_cli("translate", path, "-r", range_spec, "--into", "C", "--to", "English", *extra)


def test_a_file_that_is_not_a_zip_is_refused(run_cli, glm_env, tmp_path):
    path = tmp_path / "text.xlsx"
    path.write_text("id,text\n1,hello\n")
    _assert_refused(_translate(run_cli, path), glm_env, tmp_path, mentions="not")


def test_an_encrypted_workbook_is_refused(run_cli, glm_env, tmp_path):
    path = tmp_path / "locked.xlsx"
    # A password-protected .xlsx is an OLE2 file whose directory names an EncryptedPackage stream.
    directory_entry = "EncryptedPackage".encode("utf-16-le")
    path.write_bytes(OLE2_SIGNATURE + bytes(4096) + directory_entry + bytes(64))
    _assert_refused(_translate(run_cli, path), glm_env, tmp_path, mentions="encrypted")


def test_a_corrupt_package_is_refused(run_cli, glm_env, book, tmp_path):
    data = book.read_bytes()
    book.write_bytes(data[: len(data) // 2])
    _assert_refused(_translate(run_cli, book), glm_env, tmp_path, mentions="corrupt")


def test_a_zip_without_a_workbook_is_refused(run_cli, glm_env, tmp_path):
    path = tmp_path / "empty.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    _assert_refused(_translate(run_cli, path), glm_env, tmp_path, mentions="empty.xlsx")


def test_the_xml_bomb_of_the_corpus_is_refused(run_cli, glm_env, tmp_path):
    path = shutil.copy2(CORPUS / "poc-xmlbomb-empty.xlsx", tmp_path / "bomb.xlsx")
    outcome = _translate(run_cli, path, "A1:A5")
    _assert_refused(outcome, glm_env, tmp_path, mentions="bomb.xlsx")


def test_a_missing_workbook_is_refused(run_cli, glm_env, tmp_path):
    outcome = _translate(run_cli, tmp_path / "nowhere.xlsx")
    _assert_refused(outcome, glm_env, tmp_path, mentions="nowhere.xlsx")


def test_a_missing_sheet_is_refused(run_cli, glm_env, book, tmp_path):
    outcome = _translate(run_cli, book, "Nope!B2:B3")
    _assert_refused(outcome, glm_env, tmp_path, mentions="Nope")


@pytest.mark.parametrize("spec", ["Data!B2:", "Data!2B:B3", "Data!B3:B2", "!!", "Data!B2:ZZZZ9"])
def test_a_malformed_range_is_refused(run_cli, glm_env, book, tmp_path, spec):
    _assert_refused(_translate(run_cli, book, spec), glm_env, tmp_path, mentions="--range")


def test_a_malformed_target_is_refused(run_cli, glm_env, book, tmp_path):
    outcome = run_cli("translate", book, "-r", "Data!B2:B3", "--into", "3C", "--to", "English")
    _assert_refused(outcome, glm_env, tmp_path, mentions="--into")


@pytest.mark.parametrize("into", ["B", "B3", "A2"], ids=["same-column", "inside", "left-edge"])
def test_a_target_overlapping_the_input_is_refused(run_cli, glm_env, tmp_path, into):
    path = write_book(tmp_path / "o.xlsx", [("a", "b"), ("c", "d"), ("e", "f")])
    args = ["translate", path, "-r", "Data!A1:B3", "--into", into, "--to", "English"]
    _assert_refused(run_cli(*args), glm_env, tmp_path, mentions="overlaps")


def test_an_unwritable_output_path_is_refused_before_any_call(run_cli, glm_env, book, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    outcome = _translate(run_cli, book, "Data!B2:B3", "--out", blocker / "out.xlsx")
    _assert_refused(outcome, glm_env, tmp_path, mentions="cannot write")


def test_a_range_with_nothing_in_it_is_refused(run_cli, glm_env, book, tmp_path):
    _assert_refused(_translate(run_cli, book, "Data!B4:B4"), glm_env, tmp_path, mentions="no val")


def test_a_task_option_that_cannot_work_is_refused(run_cli, glm_env, book, tmp_path):
    outcome = run_cli("classify", book, "-r", "Data!B2:B3", "--into", "C", "--labels", " , ")
    _assert_refused(outcome, glm_env, tmp_path, mentions="label")


def test_a_missing_required_option_is_one_line_and_exit_1(run_cli, glm_env, book, tmp_path):
    outcome = run_cli("translate", book, "-r", "Data!B2:B3", "--into", "C")
    _assert_refused(outcome, glm_env, tmp_path, mentions="--to")


def test_an_unknown_provider_is_a_settings_error(run_cli, glm_env, book, tmp_path):
    outcome = _translate(run_cli, book, "Data!B2:B3", "--provider", "nope")
    _assert_refused(outcome, glm_env, tmp_path, mentions="provider")


@pytest.mark.parametrize(
    ("code", "mentions"), [("1000", "key"), ("1113", "balance")], ids=["bad-key", "no-balance"]
)
def test_a_fatal_provider_error_stops_at_once_with_no_output(
    run_cli, glm_env, book, tmp_path, code, mentions
):
    glm_env.inject(code, times=None)
    outcome = _translate(run_cli, book, "Data!B2:B5")
    assert outcome.exit_code == 1
    assert len(outcome.stderr_lines) == 1 and outcome.stderr_lines[0].startswith("error: ")
    assert mentions in outcome.stderr.lower()
    assert glm_env.api_key not in outcome.stderr + outcome.stdout
    assert len(glm_env.requests) <= 2  # no retry storm: a fatal error ends the run
    assert not book.with_name("book.glm.xlsx").exists()


def test_help_is_there_for_every_command(run_cli):
    for command in ("translate", "classify", "extract", "ask", "serve", "xlwings"):
        outcome = run_cli(command, "--help")
        assert outcome.exit_code == 0, command
        assert f"excel-glm {command}" in outcome.stdout
    top = run_cli("--help")
    assert all(name in top.stdout for name in ("translate", "classify", "extract", "ask"))


def test_an_error_line_never_shows_the_api_key(run_cli, glm_env, book, tmp_path):
    # The key pasted where a range belongs: the range error quotes what it got, minus the key.
    outcome = _translate(run_cli, book, glm_env.api_key)
    _assert_refused(outcome, glm_env, tmp_path, mentions="--range")
    assert glm_env.api_key not in outcome.stderr and "***" in outcome.stderr


def test_a_zip_bomb_is_refused(run_cli, glm_env, book, tmp_path):
    # A part that inflates a thousand-fold: far past any real workbook's compression ratio.
    with zipfile.ZipFile(book, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/filler.bin", bytes(16 << 20))
    _assert_refused(_translate(run_cli, book), glm_env, tmp_path, mentions="bomb")
