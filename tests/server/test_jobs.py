"""Bulk jobs: start, progress events, status with results, cancel, limits."""

from __future__ import annotations

import asyncio
import json

from excel_glm.server.app import create_app
from excel_glm.server.jobs import JobLimits


def translate(values):
    return {"task": "translate", "values": values, "params": {"to": "English"}}


async def read_events(client, job_id: str) -> list[tuple[str, dict]]:
    """Every server-sent event of a job until the stream ends, as (name, data)."""
    events = []
    name = None
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


async def wait_for_status(client, job_id: str, status: str) -> dict:
    for _ in range(500):
        body = (await client.get(f"/v1/jobs/{job_id}")).json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"job never reached {status}: {body}")


async def test_a_job_runs_reports_progress_and_returns_results_shaped_like_the_request(
    client, fake_glm
):
    fake_glm.set_latency(20)
    values = [[f"text {i}", None] for i in range(30)]

    created = await client.post("/v1/jobs", json=translate(values))
    events = await read_events(client, created.json()["id"])
    status = (await client.get(f"/v1/jobs/{created.json()['id']}")).json()

    assert created.status_code == 201 and created.json()["status"] == "running"
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"progress"}
    progress = [data for name, data in events if name == "progress"]
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert progress[-1]["total"] == 30
    assert set(progress[0]) == {"done", "total", "cache_hits", "usage"}
    assert events[-1][1]["status"] == "done" and "values" not in events[-1][1]
    assert status["status"] == "done" and status["done"] == status["total"] == 30
    assert status["values"] == [[f"[English] text {i}", ""] for i in range(30)]
    assert status["errors"] == [[None, None]] * 30
    assert status["usage"]["requests"] >= 1


async def test_a_cancelled_job_stops_and_says_so(client, fake_glm):
    fake_glm.set_latency(300)
    values = [[f"slow {i}"] for i in range(200)]

    job_id = (await client.post("/v1/jobs", json=translate(values))).json()["id"]
    events = asyncio.create_task(read_events(client, job_id))
    await asyncio.sleep(0.1)
    cancelled = await client.post(f"/v1/jobs/{job_id}/cancel")
    final = await wait_for_status(client, job_id, "cancelled")

    assert cancelled.status_code == 200
    assert (await events)[-1][0] == "cancelled"
    assert final["values"] is None
    assert len(fake_glm.requests) < 20  # it did not go on sending the rest


async def test_a_finished_job_can_be_cancelled_harmlessly(client):
    job_id = (await client.post("/v1/jobs", json=translate([["a"]]))).json()["id"]
    await wait_for_status(client, job_id, "done")

    response = await client.post(f"/v1/jobs/{job_id}/cancel")

    assert response.json()["status"] == "done"


async def test_an_unknown_job_is_404(client):
    for response in (
        await client.get("/v1/jobs/nope"),
        await client.get("/v1/jobs/nope/events"),
        await client.post("/v1/jobs/nope/cancel"),
    ):
        assert response.status_code == 404
        assert "nope" in response.json()["detail"]


async def test_too_many_running_jobs_are_refused_with_429(glm_settings, serve_app, fake_glm):
    fake_glm.set_latency(300)
    app = create_app(glm_settings(), job_limits=JobLimits(max_running=1))

    async with serve_app(app) as client:
        first = await client.post("/v1/jobs", json=translate([["one"]]))
        second = await client.post("/v1/jobs", json=translate([["two"]]))
        await client.post(f"/v1/jobs/{first.json()['id']}/cancel")

    assert first.status_code == 201
    assert second.status_code == 429
    assert "limit is 1" in second.json()["detail"]


async def test_old_finished_jobs_are_forgotten_beyond_the_limit(glm_settings, serve_app):
    app = create_app(glm_settings(), job_limits=JobLimits(max_finished=2))

    async with serve_app(app) as client:
        ids = []
        for text in ("a", "b", "c", "d"):
            job_id = (await client.post("/v1/jobs", json=translate([[text]]))).json()["id"]
            await wait_for_status(client, job_id, "done")
            ids.append(job_id)
        statuses = [(await client.get(f"/v1/jobs/{job_id}")).status_code for job_id in ids]

    assert statuses == [404, 404, 200, 200]


async def test_shutdown_cancels_running_jobs(glm_settings, serve_app, fake_glm):
    fake_glm.set_latency(2000)
    app = create_app(glm_settings())

    async with serve_app(app) as client:
        await client.post("/v1/jobs", json=translate([["never answered"]]))
        jobs = app.state.service.jobs
        job = next(iter(jobs._jobs.values()))
        await asyncio.sleep(0.05)

    assert job.status == "cancelled"


async def test_a_quiet_job_stream_sends_keep_alives_until_it_ends(
    glm_settings, serve_app, fake_glm
):
    fake_glm.set_latency(300)
    app = create_app(glm_settings())

    async with serve_app(app) as client:
        job_id = (await client.post("/v1/jobs", json=translate([["quiet"]]))).json()["id"]
        jobs = app.state.service.jobs
        seen = [snapshot async for snapshot in jobs.watch(jobs.get(job_id), keepalive_s=0.02)]

    assert None in seen
    assert seen[-1] is not None and seen[-1].status == "done"
