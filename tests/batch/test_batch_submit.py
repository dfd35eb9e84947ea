"""`excel-glm batch submit`: the requests it uploads, the batches it creates, what it refuses."""

from __future__ import annotations

import os

from excel_glm.batch_job import jobs_dir, load_job
from excel_glm.cache import Cache
from excel_glm.tasks import make_task

from .batch_helpers import sent_texts, translate_key, write_book
from .conftest import TEXTS

DISTINCT = [text for text in dict.fromkeys(TEXTS) if text]
ARGS = ("-r", "Data!B2:B7", "--into", "C", "--task", "translate", "--to", "English")


def test_submit_uploads_each_distinct_cell_once_in_chat_request_lines(submit, fake_batch):
    submit()
    lines = fake_batch.uploaded_lines()
    assert sent_texts(lines) == DISTINCT
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v4/chat/completions")}
    assert len({line["custom_id"] for line in lines}) == len(lines)


def test_each_line_carries_the_glm_providers_body_with_the_tasks_instruction(submit, fake_batch):
    submit()
    body = fake_batch.uploaded_lines()[0]["body"]
    instruction = make_task("translate", {"to": "English"}).instruction()
    assert body["model"] == "glm-5"
    assert body["messages"][0] == {"role": "system", "content": instruction}
    assert body["response_format"] == {"type": "json_object"}
    assert body["thinking"] == {"type": "disabled"}
    assert body["max_tokens"] > 0


def test_packs_follow_the_pack_size_setting(submit, fake_batch, monkeypatch):
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "2")
    submit()
    sizes = [len(sent_texts([line])) for line in fake_batch.uploaded_lines()]
    assert sizes == [2, 2]


def test_the_batch_is_created_on_the_uploaded_file_with_the_job_in_its_metadata(submit, fake_batch):
    outcome = submit()
    (batch,) = fake_batch.batches.values()
    assert batch.input_file_id == fake_batch.uploads[0]["id"]
    assert batch.metadata["excel_glm_job"] == outcome.job_id


def test_submit_prints_the_job_id_and_how_to_check_and_collect_it(submit):
    outcome = submit()
    assert f"excel-glm batch status {outcome.job_id}" in outcome.stdout
    assert f"excel-glm batch collect {outcome.job_id}" in outcome.stdout


def test_the_job_record_holds_everything_collect_needs(submit, fake_batch, book):
    outcome = submit()
    record = load_job(outcome.job_id)
    assert [batch["id"] for batch in record.batches] == list(fake_batch.batches)
    assert record.book == str(book.resolve())
    assert (record.range_spec, record.into, record.task) == ("Data!B2:B7", "C", "translate")
    assert record.params == {"to": "English"}
    assert record.base_url == fake_batch.base_url
    pairs = [
        tuple(pair)
        for line in fake_batch.uploaded_lines()
        for pair in record.packs[line["custom_id"]]
    ]
    assert pairs == [(translate_key(text), text) for text in DISTINCT]
    assert fake_batch.api_key not in record.path.read_text()


def test_cells_already_in_the_cache_are_not_submitted(submit, fake_batch):
    cache = Cache(os.environ["EXCEL_GLM_CACHE_PATH"])
    cache.put_many(
        [(translate_key("Das Essen war gut"), "The food was good")],
        provider="glm",
        model="glm-5",
        task="translate",
    )
    cache.close()
    outcome = submit()
    assert sent_texts(fake_batch.uploaded_lines()) == [t for t in DISTINCT if "Essen" not in t]
    assert "1 cache hits" in outcome.stdout


def test_nothing_is_uploaded_when_every_cell_is_cached(submit, run_batch, fake_batch):
    first = submit()
    fake_batch.finish_all()
    assert run_batch("collect", first.job_id).exit_code == 0
    again = submit()
    assert "nothing to submit" in again.stdout
    assert len(fake_batch.uploads) == 1


def test_lines_past_the_per_file_limit_go_to_several_batches(submit, fake_batch, monkeypatch):
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")
    monkeypatch.setattr("excel_glm.batch_job.MAX_LINES_PER_FILE", 3)
    outcome = submit()
    assert [len(up["data"].splitlines()) for up in fake_batch.uploads] == [3, 1]
    assert len(load_job(outcome.job_id).batches) == 2
    assert sent_texts(fake_batch.uploaded_lines()) == DISTINCT


def test_a_non_empty_target_is_refused_before_anything_is_uploaded(run_batch, fake_batch, tmp_path):
    book = write_book(tmp_path / "full.xlsx", [("text", "done"), ("Hola", "Hello")])
    outcome = run_batch("submit", book, "-r", "Data!A2:A2", "--into", "B", "--task", "ask")
    assert outcome.exit_code == 1
    assert "not empty" in outcome.stderr
    assert fake_batch.uploads == []


def test_an_option_of_another_task_is_refused(run_batch, fake_batch, book):
    outcome = run_batch("submit", book, *ARGS, "--labels", "a,b")
    assert outcome.exit_code == 1
    assert outcome.stderr == "error: --labels is not an option of translate\n"
    assert fake_batch.uploads == []


def test_submit_needs_an_api_key(run_batch, fake_batch, book, monkeypatch):
    monkeypatch.delenv("EXCEL_GLM_API_KEY")
    outcome = run_batch("submit", book, *ARGS)
    assert outcome.exit_code == 1
    assert "EXCEL_GLM_API_KEY" in outcome.stderr
    assert fake_batch.uploads == []


def test_a_dry_run_prints_the_plan_and_sends_nothing(run_batch, fake_batch, book):
    outcome = run_batch("submit", book, *ARGS, "--dry-run")
    assert outcome.exit_code == 0
    assert outcome.stdout.startswith("dry run: 5 cells, 4 distinct, 0 cache hits; 1 requests")
    assert fake_batch.requests == []
    assert not jobs_dir().exists()


def test_a_rejected_key_is_one_line_without_the_key_and_no_job(run_batch, fake_batch, book):
    fake_batch.inject_http("upload", "1000")
    outcome = run_batch("submit", book, *ARGS)
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: GLM rejected the API key")
    assert len(outcome.stderr.splitlines()) == 1
    assert fake_batch.api_key not in outcome.stdout + outcome.stderr
    assert not jobs_dir().exists()


def test_an_empty_balance_on_create_is_one_clear_line(run_batch, fake_batch, book):
    fake_batch.inject_http("create", "1113")
    outcome = run_batch("submit", book, *ARGS)
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: the GLM account has no balance")
    assert fake_batch.batches == {}


def test_batches_created_before_a_failure_are_kept_in_the_job_record(
    run_batch, fake_batch, book, monkeypatch
):
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")
    monkeypatch.setattr("excel_glm.batch_job.MAX_LINES_PER_FILE", 2)
    fake_batch.inject_http("create", "1113", after=1)
    outcome = run_batch("submit", book, *ARGS)
    assert outcome.exit_code == 1
    (saved,) = jobs_dir().glob("*.json")
    record = load_job(str(saved))
    assert [batch["id"] for batch in record.batches] == list(fake_batch.batches)
    assert f"excel-glm batch collect {record.id}" in outcome.stderr


def test_a_job_above_the_cost_threshold_needs_yes(run_batch, fake_batch, book, monkeypatch):
    monkeypatch.setenv("EXCEL_GLM_CONFIRM_COST_ABOVE", "0")
    refused = run_batch("submit", book, *ARGS)
    assert refused.exit_code == 1
    assert "pass --yes" in refused.stderr
    assert fake_batch.uploads == []
    assert run_batch("submit", book, *ARGS, "--yes").exit_code == 0


def test_a_model_the_account_may_not_use_is_one_line_naming_the_code(run_batch, fake_batch, book):
    fake_batch.inject_http("create", "1220")
    outcome = run_batch("submit", book, *ARGS)
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: GLM error 1220 (HTTP 403)")
    assert len(fake_batch.batches) == 0


def test_an_endpoint_without_a_batch_api_is_named_in_one_line(
    run_batch, fake_batch, book, monkeypatch
):
    monkeypatch.setenv("EXCEL_GLM_BASE_URL", fake_batch.base_url.replace("/api/paas/v4", "/v1"))
    outcome = run_batch("submit", book, *ARGS)
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: there is no Batch API at ")
    assert "EXCEL_GLM_BASE_URL" in outcome.stderr
