"""The Batch API client and the pure pieces: what is retried, file splitting, odd result lines."""

from __future__ import annotations

import pytest

from excel_glm.batch import BatchClient
from excel_glm.batch_collect import read_line
from excel_glm.batch_job import split_files
from excel_glm.config import load_settings
from excel_glm.errors import RetryableProviderError
from excel_glm.tasks import make_task


@pytest.fixture
def client(fake_batch):
    with BatchClient(load_settings()) as batch_client:
        yield batch_client


def _creates(fake) -> int:
    return sum(
        1 for method, path, _ in fake.requests if (method, path[-8:]) == ("POST", "/batches")
    )


def test_create_is_not_repeated_after_a_server_error(client, fake_batch):
    file_id = client.upload("a.jsonl", b"")
    fake_batch.inject_http("create", "1234")
    with pytest.raises(RetryableProviderError, match="may or may not have been created"):
        client.create(file_id, {})
    assert _creates(fake_batch) == 1  # a second try could start a second, billed batch


def test_create_is_retried_after_an_overload_answer(client, fake_batch):
    file_id = client.upload("a.jsonl", b"")
    fake_batch.inject_http("create", "1302")
    info = client.create(file_id, {})
    assert _creates(fake_batch) == 2
    assert list(fake_batch.batches) == [info.id]


def test_a_download_is_retried_after_a_server_error(client, fake_batch):
    file_id = client.upload("a.jsonl", b'{"custom_id": "p1"}\n')
    fake_batch.inject_http("content", "1234", times=2)
    assert client.content(file_id) == b'{"custom_id": "p1"}\n'


def test_files_split_at_the_line_limit():
    lines = [b"x" * 10] * 5
    assert [f.count(b"\n") for f in split_files(lines, max_lines=2)] == [2, 2, 1]


def test_files_split_at_the_byte_limit_without_cutting_a_line():
    lines = [b"a" * 10, b"b" * 10, b"c" * 10]
    files = split_files(lines, max_bytes=25)
    assert files == [b"a" * 10 + b"\n" + b"b" * 10 + b"\n", b"c" * 10 + b"\n"]


def test_an_error_line_with_a_top_level_error_fails_its_cells_with_the_code():
    line = {"custom_id": "p1", "error": {"code": "1214", "message": "bad request"}}
    pack = [["k1", "Hola"], ["k2", "Adios"]]
    answers, reasons = read_line(line, pack, make_task("ask", {}))
    assert answers == []
    assert reasons == dict.fromkeys(
        ["Hola", "Adios"], "the batch request failed: GLM error 1214: bad request"
    )


def test_an_answer_that_is_not_a_label_is_not_accepted():
    body = {"choices": [{"finish_reason": "stop", "message": {"content": '{"1":"maybe"}'}}]}
    line = {"custom_id": "p1", "response": {"status_code": 200, "body": body}}
    task = make_task("classify", {"labels": "yes,no"})
    answers, reasons = read_line(line, [["k1", "Is it?"]], task)
    assert answers == []
    assert "no valid answer" in reasons["Is it?"]
