"""`excel-glm batch collect`: every valid answer cached first, then written like an online run."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from excel_glm.cache import Cache
from excel_glm.cli import app as root_app

from .batch_helpers import column, translate_key, write_book

ROWS = range(2, 8)
EXPECTED = [
    "[English] Bonjour le monde",
    "[English] Contact: Alice alice@example.com, age 41",
    None,
    "[English] Bonjour le monde",
    "[English] Das Essen war gut",
    "[English] Muy bien, gracias",
]


def _cached(text: str):
    cache = Cache(os.environ["EXCEL_GLM_CACHE_PATH"])
    try:
        return cache.get(translate_key(text))
    finally:
        cache.close()


def test_collect_writes_every_answer_into_its_own_row(
    submit, run_batch, fake_batch, book, monkeypatch
):
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")  # four lines, returned shuffled
    job = submit().job_id
    fake_batch.finish_all()
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 0, outcome.stderr
    assert column(book.with_name("book.glm.xlsx"), "C", ROWS) == EXPECTED
    assert "collected 4 answers from 1 batch(es)" in outcome.stdout


def test_collect_before_the_batch_finishes_writes_nothing(submit, run_batch, fake_batch, book):
    job = submit().job_id
    fake_batch.advance(fake_batch.validating_s + 1)
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 1
    assert "is still in_progress" in outcome.stderr
    assert "again later" in outcome.stderr
    assert not book.with_name("book.glm.xlsx").exists()


def test_answers_are_cached_even_when_the_write_is_then_refused(
    submit, run_batch, fake_batch, tmp_path
):
    book = write_book(tmp_path / "late.xlsx", [("text", None), ("Hola", None)])
    job = run_batch(
        "submit", book, "-r", "Data!A2:A2", "--into", "B", "--task", "translate", "--to", "English"
    ).job_id
    fake_batch.finish_all()
    write_book(book, [("text", None), ("Hola", "typed by hand meanwhile")])
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 1
    assert "not empty" in outcome.stderr
    assert "1 answers are in the cache" in outcome.stderr
    assert _cached("Hola") == "[English] Hola"


def test_after_collect_the_online_command_answers_every_cell_from_the_cache(
    submit, run_batch, fake_batch, book
):
    job = submit().job_id
    fake_batch.finish_all()
    assert run_batch("collect", job).exit_code == 0
    calls = len(fake_batch.requests)
    # The fake has no /chat/completions: any online request would fail the run.
    result = CliRunner().invoke(
        root_app,
        [
            "translate",
            str(book),
            "-r",
            "Data!B2:B7",
            "--into",
            "C",
            "--to",
            "English",
            "--out",
            str(book.with_name("online.xlsx")),
        ],
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert len(fake_batch.requests) == calls
    assert column(book.with_name("online.xlsx"), "C", ROWS) == EXPECTED


def test_cells_of_an_error_file_line_are_listed_and_the_rest_written(
    submit, run_batch, fake_batch, book, monkeypatch
):
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")
    fake_batch.inject_line("1301", match="Essen")
    job = submit().job_id
    fake_batch.finish_all()
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 2
    assert "B6: the batch request failed: GLM error 1301" in outcome.stderr
    written = column(book.with_name("book.glm.xlsx"), "C", ROWS)
    assert written == [*EXPECTED[:4], None, EXPECTED[5]]


def test_an_invalid_pack_answer_fails_only_the_cell_concerned(submit, run_batch, fake_batch, book):
    fake_batch.inject_line("missing_id")  # the model forgets the pack's last id
    job = submit().job_id
    fake_batch.finish_all()
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 2
    assert "B7: the batch gave no valid answer for this cell" in outcome.stderr
    assert column(book.with_name("book.glm.xlsx"), "C", ROWS) == [*EXPECTED[:5], None]
    assert _cached("Muy bien, gracias") is None


def test_an_expired_batch_yields_the_lines_it_completed(
    submit, run_batch, fake_batch, book, monkeypatch
):
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")
    fake_batch.expire_after = 2
    fake_batch.shuffle_output = False
    job = submit().job_id
    fake_batch.finish_all()
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 2
    assert "expired after 2 of 4 requests" in outcome.stderr
    assert "expired before answering this cell" in outcome.stderr
    written = column(book.with_name("book.glm.xlsx"), "C", ROWS)
    assert written == [*EXPECTED[:4], None, None]


def test_a_batch_that_failed_validation_is_one_clear_error(submit, run_batch, fake_batch, book):
    fake_batch.fail_validation("the file is not valid JSONL")
    job = submit().job_id
    fake_batch.finish_all()
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 1
    assert "the file is not valid JSONL" in outcome.stderr
    assert "every batch failed" in outcome.stderr
    assert not book.with_name("book.glm.xlsx").exists()


def test_a_cancelled_batch_yields_what_it_answered_before(submit, run_batch, fake_batch, book):
    job = submit().job_id
    (batch_id,) = fake_batch.batches
    fake_batch.advance(1)
    import httpx

    httpx.post(
        f"{fake_batch.base_url}/batches/{batch_id}/cancel",
        headers={"Authorization": f"Bearer {fake_batch.api_key}"},
    ).raise_for_status()
    fake_batch.finish_all()
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 2
    assert "cancelled after 0 of 1 requests" in outcome.stderr


def test_collect_in_place_rewrites_the_book_after_a_backup(submit, run_batch, fake_batch, book):
    job = submit().job_id
    fake_batch.finish_all()
    outcome = run_batch("collect", job, "--in-place")
    assert outcome.exit_code == 0, outcome.stderr
    assert column(book, "C", ROWS) == EXPECTED
    assert column(book.with_name("book.xlsx.bak"), "C", ROWS) == [None] * 6


def test_extract_answers_fill_one_column_per_field(run_batch, fake_batch, book):
    job = run_batch(
        "submit",
        book,
        "-r",
        "Data!B2:B7",
        "--into",
        "D",
        "--task",
        "extract",
        "--fields",
        "name,email",
    ).job_id
    fake_batch.finish_all()
    outcome = run_batch("collect", job, "--out", book.with_name("x.xlsx"))
    assert outcome.exit_code == 0, outcome.stderr
    out = book.with_name("x.xlsx")
    assert column(out, "D", range(3, 4)) == ["Contact"]
    assert column(out, "E", range(3, 4)) == ["alice@example.com"]


def test_collect_of_an_unknown_job_is_one_line(run_batch, fake_batch):
    outcome = run_batch("collect", "20990101-000000-abcdef")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: no batch job '20990101-000000-abcdef'")


def test_a_job_split_over_several_batches_is_collected_whole(
    submit, run_batch, fake_batch, book, monkeypatch
):
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")
    monkeypatch.setattr("excel_glm.batch_job.MAX_LINES_PER_FILE", 3)
    job = submit().job_id
    assert len(fake_batch.batches) == 2
    fake_batch.finish_all()
    outcome = run_batch("collect", job)
    assert outcome.exit_code == 0, outcome.stderr
    assert column(book.with_name("book.glm.xlsx"), "C", ROWS) == EXPECTED


def test_collecting_again_gives_the_same_workbook(submit, run_batch, fake_batch, book):
    job = submit().job_id
    fake_batch.finish_all()
    assert run_batch("collect", job).exit_code == 0
    first = column(book.with_name("book.glm.xlsx"), "C", ROWS)
    assert run_batch("collect", job).exit_code == 0
    assert column(book.with_name("book.glm.xlsx"), "C", ROWS) == first == EXPECTED
