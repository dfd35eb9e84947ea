"""Requests no browser of ours sends: repeated guard headers, another site's subresource asking for
the task pane, text a JSON client can send but no encoder can carry. Each gets one clear answer."""

from __future__ import annotations

import socket

import httpx
import pytest

from excel_glm.server.app import create_app
from excel_glm.server.run import ServiceThread

TASK_PANE = "/addin/taskpane.html"
PANE_HTML = '<html><head><meta name="excel-glm-token" content=""></head><body>pane</body></html>'


@pytest.fixture
def service(glm_settings, tmp_path):
    """The real service (uvicorn, plain HTTP) with a task pane to serve."""
    addin = tmp_path / "addin"
    addin.mkdir(exist_ok=True)
    (addin / "taskpane.html").write_text(PANE_HTML, encoding="utf-8")
    with ServiceThread(glm_settings(addin_dir=addin)) as running:
        yield running


def raw_request(port: int, head: list[str]) -> tuple[int, str]:
    """Send `head` as one HTTP/1.1 request over a socket; the status and the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join([*head, "Connection: close"]) + "\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    text = answer.decode("utf-8", "replace")
    return int(text.split(" ", 2)[1]), text


@pytest.mark.parametrize("order", ["foreign first", "foreign last"])
def test_a_request_with_two_host_headers_is_refused_whichever_comes_first(service, order):
    own, foreign = f"Host: localhost:{service.port}", "Host: rebound.example"
    hosts = [foreign, own] if order == "foreign first" else [own, foreign]
    status, answer = raw_request(service.port, [f"GET {TASK_PANE} HTTP/1.1", *hosts])
    assert status == 400
    assert "more than one Host" in answer
    assert service.token not in answer


def test_a_request_with_two_origin_headers_is_refused(service):
    status, answer = raw_request(
        service.port,
        [
            "POST /v1/estimate HTTP/1.1",
            f"Host: localhost:{service.port}",
            "Origin: https://evil.example",
            f"Origin: http://localhost:{service.port}",
            f"Authorization: Bearer {service.token}",
            "Content-Length: 0",
        ],
    )
    assert status == 400
    assert "more than one Origin" in answer


@pytest.mark.parametrize("mode", ["no-cors", "cors", "same-origin"])
def test_another_sites_subresource_request_for_the_task_pane_gets_no_token(service, mode):
    status, answer = raw_request(
        service.port,
        [
            f"GET {TASK_PANE} HTTP/1.1",
            f"Host: localhost:{service.port}",
            "Sec-Fetch-Site: cross-site",
            f"Sec-Fetch-Mode: {mode}",
            "Sec-Fetch-Dest: script",
        ],
    )
    assert status == 403
    assert service.token not in answer


@pytest.mark.parametrize(
    "fetch_headers",
    [
        # Excel on the web frames the pane from its own site: a cross-site navigation.
        ["Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: iframe"],
        ["Sec-Fetch-Site: none", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"],
        ["Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors", "Sec-Fetch-Dest: empty"],
        [],  # Excel desktop's older web views send no fetch metadata
    ],
)
def test_office_loading_the_task_pane_gets_the_token(service, fetch_headers):
    status, answer = raw_request(
        service.port,
        [f"GET {TASK_PANE} HTTP/1.1", f"Host: localhost:{service.port}", *fetch_headers],
    )
    assert status == 200
    assert f'content="{service.token}"' in answer


async def test_a_cell_holding_half_an_emoji_fails_alone_not_the_request(glm_settings, serve_app):
    # =LEFT("😀 bonjour", 1) in Excel is a lone surrogate; JSON.stringify sends it escaped.
    body = (
        '{"task": "translate", "params": {"to": "English"}, '
        '"values": [["\\ud83d bonjour"], ["merci"]]}'
    )
    async with serve_app(create_app(glm_settings())) as client:
        response = await client.post(
            "/v1/cells", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["values"][1][0].endswith("merci")
    assert answer["errors"][1] == [None]
    # The broken cell has an answer or its own error, never both and never neither.
    assert (answer["values"][0][0] is None) != (answer["errors"][0][0] is None)


async def test_a_parameter_holding_half_an_emoji_is_refused_with_422(glm_settings, serve_app):
    body = '{"task": "translate", "params": {"to": "English \\udc00"}, "values": [["merci"]]}'
    async with serve_app(create_app(glm_settings())) as client:
        response = await client.post(
            "/v1/cells", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert "'to'" in response.json()["detail"]


@pytest.mark.parametrize(
    "where",
    [
        {"params": {"token": "TOKEN"}},
        {"params": {"access_token": "TOKEN"}},
        {"headers": {"Cookie": "token=TOKEN"}},
        {"headers": {"Authorization": "Basic TOKEN"}},
        {"headers": {"X-Api-Key": "TOKEN"}},
    ],
)
def test_the_token_counts_only_in_the_authorization_bearer_header(service, where):
    options = {
        key: {name: value.replace("TOKEN", service.token) for name, value in values.items()}
        for key, values in where.items()
    }
    with httpx.Client(base_url=f"http://localhost:{service.port}", timeout=30) as client:
        response = client.post(
            "/v1/estimate",
            json={"task": "translate", "values": [["a"]], "params": {"to": "English"}},
            **options,
        )

    assert response.status_code == 401
    assert service.token not in response.text
