"""`excel-glm serve` as a user runs it: the banner, a working service, one line on a taken port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from excel_glm.cli import app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_on_a_taken_port_says_so_in_one_line_and_prints_no_banner():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--http", "--port", str(port)])

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert str(port) in lines[0]
    assert "already running" in lines[0]


def test_serve_http_prints_how_to_use_it_answers_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {**os.environ, "EXCEL_GLM_PROVIDER": "openai", "EXCEL_GLM_BASE_URL": "http://127.0.0.1:9"}
    process = subprocess.Popen(
        [sys.executable, "-m", "excel_glm.cli", "serve", "--http", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 30
        while health is None and time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://localhost:{port}/health", timeout=2)
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None and health.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)

    # uvicorn re-raises the Ctrl+C it caught once it has shut down (130), older ones exit 0.
    assert process.returncode in (0, 130), stderr
    assert f"http://localhost:{port}" in stdout
    assert "excel-glm xlwings" in stdout
    assert "Traceback" not in stderr
