"""The guards: token, Origin, Host, body size, cell count, no CORS."""

from __future__ import annotations

import pytest

from excel_glm.server.app import create_app
from excel_glm.server.security import ServiceLimits

CELLS = {"task": "translate", "values": [["Bonjour"]], "params": {"to": "English"}}


async def test_a_call_without_token_is_refused_with_401(client):
    response = await client.post("/v1/cells", json=CELLS, headers={"Authorization": ""})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


@pytest.mark.parametrize(
    "authorization", ["Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer", "wrong-token"]
)
async def test_a_call_with_a_wrong_token_is_refused_with_401(client, authorization):
    response = await client.post("/v1/cells", json=CELLS, headers={"Authorization": authorization})

    assert response.status_code == 401


async def test_every_v1_route_needs_the_token(client):
    no_token = {"Authorization": ""}
    calls = [
        client.post("/v1/cells", json=CELLS, headers=no_token),
        client.post("/v1/estimate", json=CELLS, headers=no_token),
        client.post("/v1/jobs", json=CELLS, headers=no_token),
        client.get("/v1/jobs/some-id", headers=no_token),
        client.get("/v1/jobs/some-id/events", headers=no_token),
        client.post("/v1/jobs/some-id/cancel", headers=no_token),
    ]
    for call in calls:
        assert (await call).status_code == 401


async def test_the_right_token_is_accepted(client):
    response = await client.post("/v1/cells", json=CELLS)

    assert response.status_code == 200
    assert response.json()["values"] == [["[English] Bonjour"]]


async def test_health_and_docs_need_no_token_and_do_not_show_it(client):
    token = client.headers["Authorization"].removeprefix("Bearer ")
    for path in ("/health", "/docs", "/openapi.json"):
        response = await client.get(path, headers={"Authorization": ""})
        assert response.status_code == 200, path
        assert token not in response.text
    assert (await client.get("/health")).json()["status"] == "ok"


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://localhost:8765",
        "https://localhost:9999",
        "https://localhost.evil.example:8765",
        "https://localhost:8765.evil.example",
        "https://localhost:8765/",
        "HTTPS://LOCALHOST:8765",  # browsers send origins in lower case: not theirs
        "https://localhost:8765 ",
        "https://localhost",
    ],
)
async def test_a_foreign_origin_is_refused_with_403(client, origin):
    response = await client.post("/v1/cells", json=CELLS, headers={"Origin": origin})

    assert response.status_code == 403
    assert "origin" in response.json()["detail"]


async def test_a_foreign_origin_cannot_fetch_the_task_pane(client):
    response = await client.get("/addin/taskpane.html", headers={"Origin": "https://evil.example"})

    assert response.status_code == 403


@pytest.mark.parametrize(
    "origin", ["https://localhost:8765", "https://127.0.0.1:8765", "https://[::1]:8765"]
)
async def test_the_services_own_origin_is_accepted(client, origin):
    response = await client.post("/v1/cells", json=CELLS, headers={"Origin": origin})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8765",
        "localhost:9999",
        "localhost",
        "127.0.0.2:8765",
        "",
        # Other spellings of a loopback name are rebinding-capable DNS names or
        # resolver-dependent forms; only the three canonical spellings are the service.
        "localhost.:8765",
        "127.0.0.1.nip.io:8765",
        "127.1:8765",
        "0x7f.1:8765",
        "2130706433:8765",
        "[::ffff:127.0.0.1]:8765",
        "localhost:8765.evil.example",
        "user@localhost:8765",
    ],
)
async def test_a_foreign_host_header_is_refused_with_403(client, host):
    for path in ("/health", "/addin/taskpane.html", "/v1/cells"):
        response = await client.get(path, headers={"Host": host})
        assert response.status_code == 403, (host, path)
        assert "Host" in response.json()["detail"]


@pytest.mark.parametrize(
    "host", ["localhost:8765", "127.0.0.1:8765", "[::1]:8765", "LocalHost:8765"]
)
async def test_loopback_host_headers_with_the_port_are_accepted(client, host):
    assert (await client.get("/health", headers={"Host": host})).status_code == 200


async def test_the_api_sends_no_cors_headers(client):
    own = await client.post("/v1/cells", json=CELLS, headers={"Origin": "https://localhost:8765"})
    preflight = await client.options(
        "/v1/cells",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert preflight.status_code == 403
    for response in (own, preflight):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


async def test_a_body_over_the_default_limit_is_refused_with_413(client):
    filler = "x" * (5 * 1024 * 1024)
    response = await client.post(
        "/v1/cells", json={"task": "translate", "values": [[filler]], "params": {"to": "en"}}
    )

    assert response.status_code == 413
    assert "5,242,880 bytes" in response.json()["detail"]


async def test_a_streamed_body_over_the_limit_is_refused_with_413(glm_settings, serve_app):
    app = create_app(glm_settings(), limits=ServiceLimits(max_body_bytes=1000))

    async def chunks():
        for _ in range(20):
            yield b"[" * 100  # no Content-Length: the size is only known while reading

    async with serve_app(app) as client:
        response = await client.post(
            "/v1/cells", content=chunks(), headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 413
    assert "1,000 bytes" in response.json()["detail"]


async def test_too_many_cells_are_refused_with_422_saying_how_many(
    glm_settings, fake_glm, serve_app
):
    app = create_app(glm_settings(), limits=ServiceLimits(max_cells=10))
    body = {"task": "translate", "values": [["a", "b", "c"]] * 4, "params": {"to": "en"}}

    async with serve_app(app) as client:
        response = await client.post("/v1/cells", json=body)
        jobs = await client.post("/v1/jobs", json=body)

    assert response.status_code == 422
    assert response.json()["detail"].startswith("too many cells: 4 rows x 3 columns = 12 cells")
    assert "limit is 10" in response.json()["detail"]
    assert jobs.status_code == 422
    assert fake_glm.requests == []
