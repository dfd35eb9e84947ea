"""The UDFs' HTTP client against scripted answers (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from excel_glm import udfs_client
from excel_glm.udfs_client import ServiceCallError, ServiceClient

URL = "http://127.0.0.1:8765"


def client_answering(handler) -> ServiceClient:
    return ServiceClient(URL, "the-token", httpx.Client(transport=httpx.MockTransport(handler)))


def echo(request: httpx.Request) -> httpx.Response:
    """A well-behaved service: answers each cell with its own text upper-cased."""
    body = json.loads(request.content)
    values = [
        [None if cell is None else str(cell).upper() for cell in row] for row in body["values"]
    ]
    errors = [[None for _ in row] for row in body["values"]]
    return httpx.Response(200, json={"values": values, "errors": errors, "usage": {}})


def test_sends_the_task_params_and_bearer_token():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return echo(request)

    answers = client_answering(handler).cells("translate", ["a", None, 3], {"to": "English"})

    assert answers.values == ["A", None, "3"]
    assert answers.errors == [None, None, None]
    request = seen[0]
    assert request.url == f"{URL}/v1/cells"
    assert request.headers["authorization"] == "Bearer the-token"
    assert json.loads(request.content) == {
        "task": "translate",
        "values": [["a"], [None], [3]],
        "params": {"to": "English"},
    }


def test_chunks_by_cell_count_and_keeps_order(monkeypatch):
    monkeypatch.setattr(udfs_client, "MAX_CELLS_PER_REQUEST", 4)
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sizes.append(len(json.loads(request.content)["values"]))
        return echo(request)

    cells = [f"c{i}" for i in range(10)]
    answers = client_answering(handler).cells("ask", cells, {"prompt": ""})

    assert sizes == [4, 4, 2]
    assert answers.values == [cell.upper() for cell in cells]


def test_chunks_by_body_size(monkeypatch):
    monkeypatch.setattr(udfs_client, "MAX_BODY_BYTES", 1_000)
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sizes.append(len(json.loads(request.content)["values"]))
        return echo(request)

    cells = ["x" * 300] * 7
    client_answering(handler).cells("ask", cells, {"prompt": ""})

    assert sum(sizes) == 7 and len(sizes) > 1
    assert all(size * 300 <= 1_000 for size in sizes)


def test_an_answer_with_a_missing_cell_is_refused_not_shifted():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"values": [["A"]], "errors": [[None]], "usage": {}})

    with pytest.raises(ServiceCallError, match="answered 1 cells for 2; nothing was written"):
        client_answering(handler).cells("ask", ["a", "b"], {"prompt": ""})


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.Response(200, json={"values": "AB", "errors": [[None], [None]]}),
        httpx.Response(200, json={"values": [["A", "extra"], ["B"]], "errors": [[None], [None]]}),
    ],
)
def test_a_malformed_answer_is_one_clear_error(response):
    with pytest.raises(ServiceCallError, match="unexpected answer from the excel-glm service"):
        client_answering(lambda request: response).cells("ask", ["a", "b"], {"prompt": ""})


def test_per_cell_errors_come_back_with_their_cell():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"values": [["A"], [None]], "errors": [[None], ["too long"]], "usage": {}},
        )

    answers = client_answering(handler).cells("ask", ["a", "b"], {"prompt": ""})

    assert answers.values == ["A", None]
    assert answers.errors == [None, "too long"]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, {"detail": "GLM rejected the API key"}, "GLM rejected the API key"),
        (503, {"detail": "GLM is overloaded; try again"}, "GLM is overloaded; try again"),
        (413, {"detail": "request body too large"}, "request body too large"),
        (
            422,
            {"detail": [{"loc": ["body", "task"], "msg": "bad task"}, {"msg": "no labels"}]},
            "bad task; no labels",
        ),
    ],
)
def test_service_errors_show_the_service_message(status, body, message):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    with pytest.raises(ServiceCallError) as caught:
        client_answering(handler).cells("ask", ["a"], {"prompt": ""})

    assert str(caught.value) == message


def test_an_error_without_a_message_names_the_status():
    with pytest.raises(ServiceCallError, match="answered HTTP 500"):
        client_answering(lambda request: httpx.Response(500, text="boom")).cells(
            "ask", ["a"], {"prompt": ""}
        )


def test_a_timeout_says_answers_are_cached_and_to_recalculate():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServiceCallError, match=r"did not answer in time.*recalculate"):
        client_answering(handler).cells("ask", ["a"], {"prompt": ""})


def test_token_comes_from_the_environment_before_the_stored_file(monkeypatch, isolated_user_dirs):
    from excel_glm.config import Settings
    from excel_glm.token import load_or_create_token

    stored = load_or_create_token(Settings())
    assert udfs_client.resolve_token(None, URL) == stored

    monkeypatch.setenv("EXCEL_GLM_TOKEN", "from-env")
    assert udfs_client.resolve_token(None, URL) == "from-env"
    assert udfs_client.resolve_token(Settings(), URL) == "from-env"


def test_service_url_follows_the_configured_port(monkeypatch):
    from excel_glm.config import Settings

    monkeypatch.delenv("EXCEL_GLM_SERVICE_URL", raising=False)
    assert udfs_client.service_url(Settings(port=9100)) == "http://127.0.0.1:9100"
    monkeypatch.setenv("EXCEL_GLM_SERVICE_URL", "https://localhost:9200/")
    assert udfs_client.service_url(Settings(port=9100)) == "https://localhost:9200"


def test_the_shared_client_is_reused_across_calls(monkeypatch):
    monkeypatch.setenv("EXCEL_GLM_TOKEN", "t")
    monkeypatch.setenv("EXCEL_GLM_SERVICE_URL", URL)
    try:
        first = udfs_client.shared_client()
        second = udfs_client.shared_client()
        assert first._http is second._http
        assert first._http.trust_env is False
    finally:
        udfs_client.close_shared_clients()


@pytest.mark.parametrize(
    "url", ["http://example.com:8765", "http://127.0.0.1.evil.example:8765", "127.0.0.1:8765"]
)
def test_the_token_is_never_sent_off_this_machine(monkeypatch, url):
    monkeypatch.setenv("EXCEL_GLM_TOKEN", "t")
    monkeypatch.setenv("EXCEL_GLM_SERVICE_URL", url)

    with pytest.raises(ServiceCallError, match="must be http:// or https:// on this machine"):
        udfs_client.shared_client()
