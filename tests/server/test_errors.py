"""Errors become one clear message with the right status, and the API key is never in them."""

from __future__ import annotations

import logging

import pytest

from excel_glm.errors import RetryableProviderError
from excel_glm.results import Estimate
from excel_glm.server.app import create_app

DISTINCTIVE_KEY = "h5-distinctive-key.Zq8xVw3Lr7Np2Kt"
CELLS = {"task": "translate", "values": [["Bonjour"]], "params": {"to": "English"}}


def assert_key_absent(response, caplog) -> None:
    assert DISTINCTIVE_KEY not in response.text
    assert all(DISTINCTIVE_KEY not in f"{k}: {v}" for k, v in response.headers.items())
    assert DISTINCTIVE_KEY not in caplog.text
    assert "Traceback" not in response.text


class RaisingEngine:
    """An engine whose every run fails with `error` (a message that contains the API key)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def run(self, task, values, *, on_progress=None, cancel=None):
        raise self.error

    def estimate(self, task, values):
        return Estimate(0, 0, 0, 0, 0, 0.0)

    async def aclose(self) -> None:
        pass


async def test_a_rejected_api_key_is_502_with_one_message_and_no_key(
    glm_settings, serve_app, caplog
):
    caplog.set_level(logging.DEBUG)
    app = create_app(glm_settings(api_key=DISTINCTIVE_KEY))  # the fake answers 401 / code 1000

    async with serve_app(app) as client:
        response = await client.post("/v1/cells", json=CELLS)

    assert response.status_code == 502
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"]
    assert_key_absent(response, caplog)


async def test_a_job_failing_on_the_key_reports_it_without_the_key(glm_settings, serve_app, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_app(glm_settings(api_key=DISTINCTIVE_KEY))

    async with serve_app(app) as client:
        job = (await client.post("/v1/jobs", json=CELLS)).json()
        async with client.stream("GET", f"/v1/jobs/{job['id']}/events") as events:
            stream = "".join([line + "\n" async for line in events.aiter_lines()])
        status = await client.get(f"/v1/jobs/{job['id']}")

    assert "event: failed" in stream
    assert status.json()["status"] == "failed" and status.json()["error"]
    assert DISTINCTIVE_KEY not in stream
    assert_key_absent(status, caplog)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RetryableProviderError(f"overloaded for key {DISTINCTIVE_KEY}", status=503), 503),
        (RuntimeError(f"unexpected failure with {DISTINCTIVE_KEY}"), 500),
    ],
)
async def test_provider_trouble_and_bugs_map_to_a_status_without_the_key(
    glm_settings, serve_app, caplog, error, status
):
    caplog.set_level(logging.DEBUG)
    settings = glm_settings(api_key=DISTINCTIVE_KEY)
    app = create_app(settings, engine=RaisingEngine(error))

    async with serve_app(app) as client:
        response = await client.post("/v1/cells", json=CELLS)

    assert response.status_code == status
    assert response.json()["detail"]
    assert_key_absent(response, caplog)
    if status == 503:
        assert "[redacted]" in response.json()["detail"]
        assert int(response.headers["retry-after"]) > 0
    else:
        assert "unexpected failure" in caplog.text  # logged for the user, redacted
