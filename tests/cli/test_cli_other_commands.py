"""`excel-glm serve` and `excel-glm xlwings`: registered here, run by the service and the UDFs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_health_on_loopback_and_stops_on_ctrl_c(glm_env):
    import signal

    # glm_env: the fake GLM as provider, so start-up does not load the embedded model.

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "excel_glm.cli", "serve", "--http", "--port", str(port)],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the service did not come up"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["provider"] == "glm"
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert f"http://localhost:{port}" in stdout


def test_serve_refuses_a_non_loopback_host_in_one_line(run_cli):
    outcome = run_cli("serve", "--host", "0.0.0.0", "--http")
    assert outcome.exit_code == 1
    assert len(outcome.stderr_lines) == 1 and "loopback" in outcome.stderr


def test_xlwings_prints_the_setup_and_writes_the_same_text_to_a_file(run_cli, tmp_path):
    printed = run_cli("xlwings")
    assert printed.exit_code == 0 and printed.stdout.strip()
    target = tmp_path / "setup.txt"
    written = run_cli("xlwings", "--write", target)
    assert written.exit_code == 0 and f"wrote {target}" in written.stdout
    assert target.read_text(encoding="utf-8").strip() == printed.stdout.strip()


def test_xlwings_write_to_a_missing_folder_is_one_line(run_cli, tmp_path):
    outcome = run_cli("xlwings", "--write", tmp_path / "nowhere" / "setup.txt")
    assert outcome.exit_code == 1 and len(outcome.stderr_lines) == 1
    assert outcome.stderr_lines[0].startswith("error: cannot write")
