"""POST /v1/cells and /v1/estimate through the real engine and the fake GLM server."""

from __future__ import annotations

import asyncio

import pytest

from excel_glm.errors import AuthenticationError
from excel_glm.server.app import create_app


def translate(values, **params):
    return {"task": "translate", "values": values, "params": {"to": "English", **params}}


async def test_the_answer_has_the_shape_of_the_request_with_blanks_numbers_and_errors(client):
    values = [["Bonjour", None, 42], ["#N/A", "", True], ["   ", 2.5, "Merci"]]

    response = await client.post("/v1/cells", json=translate(values))

    assert response.status_code == 200
    body = response.json()
    assert body["values"] == [
        ["[English] Bonjour", "", "[English] 42"],
        [None, "", "[English] TRUE"],
        ["", "[English] 2.5", "[English] Merci"],
    ]
    assert body["errors"] == [
        [None, None, None],
        ["input is an Excel error: #N/A", None, None],
        [None, None, None],
    ]
    assert body["usage"]["cells"] == 6


async def test_an_extract_answer_is_an_object_per_cell(client):
    body = {
        "task": "extract",
        "values": [["Call Ann at ann@example.com"], [None]],
        "params": {"fields": "name,email"},
    }

    response = await client.post("/v1/cells", json=body)

    assert response.json()["values"] == [[{"name": "Call", "email": "ann@example.com"}], [""]]


async def test_a_cell_the_model_refuses_fails_alone(client, fake_glm):
    fake_glm.inject("1301", times=None, match="forbidden")  # content filter, that cell only

    response = await client.post("/v1/cells", json=translate([["fine"], ["forbidden"], ["ok"]]))

    body = response.json()
    assert response.status_code == 200
    assert body["values"][0] == ["[English] fine"] and body["values"][2] == ["[English] ok"]
    assert body["values"][1] == [None]
    assert body["errors"][1][0] and body["errors"][0] == [None] and body["errors"][2] == [None]


async def test_a_cell_too_long_for_excel_fails_alone_without_a_call(client, fake_glm):
    response = await client.post("/v1/cells", json=translate([["x" * 32_768], ["short"]]))

    body = response.json()
    assert body["values"] == [[None], ["[English] short"]]
    assert "32,767" in body["errors"][0][0]
    assert fake_glm.items_sent() == ["short"]


async def test_a_second_call_is_answered_from_the_cache(client, fake_glm):
    request = translate([["Bonjour"], ["Merci"]])
    first = (await client.post("/v1/cells", json=request)).json()
    sent = len(fake_glm.requests)

    second = (await client.post("/v1/cells", json=request)).json()

    assert second["values"] == first["values"]
    assert second["usage"]["cache_hits"] == 2
    assert len(fake_glm.requests) == sent


async def test_a_recalculation_storm_pays_for_each_distinct_cell_once(client, fake_glm):
    fake_glm.set_latency(150)  # every request overlaps every other
    texts = [f"text {i}" for i in range(8)]
    requests = [translate([[t] for t in texts[i % 3 :] + texts[: i % 3]]) for i in range(12)]

    answers = await asyncio.gather(*(client.post("/v1/cells", json=r) for r in requests))

    assert all(a.status_code == 200 for a in answers)
    for request, answer in zip(requests, answers, strict=True):
        expected = [[f"[English] {row[0]}"] for row in request["values"]]
        assert answer.json()["values"] == expected
    assert sorted(fake_glm.items_sent()) == sorted(texts)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"task": "summon", "values": [["a"]]}, "summon"),
        ({"task": "translate", "values": [["a"]], "params": {}}, "to"),
        ({"task": "translate", "values": [], "params": {"to": "en"}}, "values is empty"),
        ({"task": "translate", "values": [["a", "b"], ["c"]], "params": {"to": "en"}}, "values[1]"),
        (
            {"task": "translate", "values": [["a", {"x": 1}]], "params": {"to": "en"}},
            "values[0][1]",
        ),
        ({"task": "translate", "values": [["a"]], "params": {"to": "en"}, "extra": 1}, "extra"),
        ({"task": "translate", "values": "a", "params": {"to": "en"}}, "values"),
    ],
)
async def test_a_bad_request_gets_422_saying_what_is_wrong(client, fake_glm, body, message):
    response = await client.post("/v1/cells", json=body)

    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert isinstance(response.json()["detail"], str)
    assert fake_glm.requests == []


async def test_estimate_counts_cells_and_cache_hits_without_calling_the_model(client, fake_glm):
    await client.post("/v1/cells", json=translate([["Bonjour"]]))
    sent = len(fake_glm.requests)

    response = await client.post("/v1/estimate", json=translate([["Bonjour"], ["Merci"], [None]]))

    body = response.json()
    assert response.status_code == 200
    assert (body["cells"], body["distinct"], body["cache_hits"]) == (2, 2, 1)
    assert body["prompt_tokens"] > 0 and body["completion_tokens"] > 0
    assert len(fake_glm.requests) == sent


async def test_cells_whose_retries_run_out_get_an_error_each_and_are_not_cached(client, fake_glm):
    fake_glm.inject("1234", times=None)  # a server error on every attempt

    failed = await client.post("/v1/cells", json=translate([["Bonjour"], [None]]))
    fake_glm.reset()
    retried = await client.post("/v1/cells", json=translate([["Bonjour"], [None]]))

    assert failed.status_code == 200
    assert failed.json()["values"] == [[None], [""]]
    assert failed.json()["errors"][0][0]
    assert retried.json()["values"] == [["[English] Bonjour"], [""]]


async def test_one_engine_serves_every_request(glm_settings, serve_app):
    app = create_app(glm_settings())

    async with serve_app(app) as client:
        engine = app.state.service.engine
        await client.post("/v1/cells", json=translate([["a"]]))
        await client.post("/v1/jobs", json=translate([["b"]]))
        assert app.state.service.engine is engine
        assert app.state.service.jobs._engine is engine


async def test_a_client_that_gives_up_does_not_lose_the_answer_it_paid_for(client, fake_glm):
    fake_glm.set_latency(200)
    gave_up = asyncio.create_task(client.post("/v1/cells", json=translate([["paid for"]])))
    await asyncio.sleep(0.05)
    gave_up.cancel()
    for _ in range(100):  # the engine call goes on without the client
        if fake_glm.requests and fake_glm.requests[-1].status == 200:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)

    again = await client.post("/v1/cells", json=translate([["paid for"]]))

    assert again.json()["values"] == [["[English] paid for"]]
    assert again.json()["usage"]["cache_hits"] == 1
    assert len(fake_glm.requests) == 1


class GatedEngine:
    """An engine whose runs wait for `gate`, then fail with `error`; it counts its runs."""

    def __init__(self, error: Exception) -> None:
        self.gate = asyncio.Event()
        self.error = error
        self.runs = 0

    async def run(self, task, values, *, on_progress=None, cancel=None):
        self.runs += 1
        await self.gate.wait()
        raise self.error

    def estimate(self, task, values):
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


async def test_a_fatal_error_reaches_every_request_waiting_on_the_same_cells(
    glm_settings, serve_app
):
    engine = GatedEngine(AuthenticationError("GLM rejected the API key"))
    app = create_app(glm_settings(), engine=engine)

    async with serve_app(app) as client:
        calls = [
            asyncio.create_task(client.post("/v1/cells", json=translate([["same"]])))
            for _ in range(3)
        ]
        while engine.runs == 0 or len(app.state.service.inflight._pending) == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the other two requests reach the in-flight registry
        engine.gate.set()
        answers = await asyncio.gather(*calls)

    assert [a.status_code for a in answers] == [502, 502, 502]
    assert all(a.json()["detail"] == "GLM rejected the API key" for a in answers)
    assert engine.runs == 1
