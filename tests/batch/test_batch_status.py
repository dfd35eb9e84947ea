"""`excel-glm batch status`: each batch's status and request counts as the batch moves on."""

from __future__ import annotations

import datetime as dt

import pytest

from excel_glm.batch import batch_info, timestamp


def test_status_follows_the_batch_from_validating_to_completed(submit, run_batch, fake_batch):
    job = submit("--yes").job_id
    seen = []
    for step in (0, fake_batch.validating_s, fake_batch.running_s, fake_batch.finalizing_s):
        fake_batch.advance(step)
        outcome = run_batch("status", job)
        assert outcome.exit_code == 0
        seen.append(outcome.stdout.splitlines()[1].split(": ")[1].split(",")[0])
    assert seen == ["validating", "in_progress", "finalizing", "completed"]


def test_status_prints_request_counts_and_what_to_do_next(submit, run_batch, fake_batch):
    job = submit().job_id
    (batch_id,) = fake_batch.batches
    first = run_batch("status", job).stdout
    assert f"{batch_id}: validating, 0/1 done" in first
    assert f"check again later with `excel-glm batch status {job}`" in first
    fake_batch.finish_all()
    last = run_batch("status", job).stdout
    assert f"{batch_id}: completed, 1/1 done" in last
    assert f"excel-glm batch collect {job}" in last


def test_a_failed_batch_shows_the_servers_reason(submit, run_batch, fake_batch):
    fake_batch.fail_validation("custom_id must be unique")
    job = submit().job_id
    fake_batch.finish_all()
    assert "failed, 0/1 done" in run_batch("status", job).stdout
    assert "custom_id must be unique" in run_batch("status", job).stdout


@pytest.mark.parametrize("in_ms", [True, False])
def test_created_at_reads_the_same_in_seconds_and_milliseconds(
    submit, run_batch, fake_batch, in_ms
):
    fake_batch.timestamps_in_ms = in_ms
    job = submit().job_id
    created = dt.datetime.fromtimestamp(fake_batch.now, tz=dt.UTC)
    assert f"(created {created:%Y-%m-%d %H:%M} UTC)" in run_batch("status", job).stdout


def test_a_passing_server_error_on_status_is_retried(submit, run_batch, fake_batch):
    job = submit().job_id
    fake_batch.inject_http("get", "1234")
    outcome = run_batch("status", job)
    assert outcome.exit_code == 0
    assert "validating" in outcome.stdout


def test_timestamps_in_seconds_and_milliseconds_are_the_same_instant():
    assert timestamp(1715674031399) == timestamp(1715674031.399)
    assert timestamp(0) is None and timestamp(None) is None


def test_empty_file_ids_and_missing_counts_parse_to_empty_values():
    info = batch_info(
        {
            "id": "batch_1",
            "status": "validating",
            "output_file_id": "",
            "error_file_id": None,
            "request_counts": None,
        }
    )
    assert (info.output_file_id, info.error_file_id, info.total) == ("", "", 0)
    assert not info.terminal
