"""Resume: a run killed with SIGKILL half way is finished by a rerun that asks only for the rest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile

from .cli_helpers import cell_values, write_book

TEXTS = [f"review number {i}" for i in range(1, 31)]
KILL_AFTER_REQUESTS = 8


def _package_parts(path):
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


def test_a_killed_run_resumes_from_the_cache_and_writes_the_same_output(
    run_cli, glm_env, tmp_path, monkeypatch
):
    book = write_book(tmp_path / "r.xlsx", [(text,) for text in TEXTS])
    args = ["translate", book, "-r", "Data!A1:A30", "--into", "B", "--to", "English"]
    # One cell per request, one request at a time, each slow: the kill lands mid-run.
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")
    monkeypatch.setenv("EXCEL_GLM_CONCURRENCY", "1")
    glm_env.set_latency(base_ms=150)
    stderr = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "excel_glm.cli", *map(str, args)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + 60
        while len(glm_env.requests) < KILL_AFTER_REQUESTS:
            assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
        stderr.close()
    assert process.returncode == -9
    output = book.with_name("r.glm.xlsx")
    assert not output.exists()  # a killed run leaves no half-written workbook
    first_sent = set(glm_env.items_sent())
    first_count = len(glm_env.requests)

    glm_env.set_latency(base_ms=0)
    rerun = run_cli(*args)
    assert rerun.exit_code == 0, rerun.stderr
    rerun_sent = glm_env.items_sent()[first_count:]
    # Only what was not answered before the kill is asked again; at most the request in flight
    # when the process died is asked twice.
    assert len(set(rerun_sent) & first_sent) <= 1
    assert set(rerun_sent) | first_sent == set(TEXTS)
    assert len(rerun_sent) <= len(TEXTS) - (KILL_AFTER_REQUESTS - 1)

    clean = tmp_path / "clean.xlsx"
    monkeypatch.setenv("EXCEL_GLM_CACHE_PATH", str(tmp_path / "fresh-cache.sqlite3"))
    assert run_cli(*args, "--out", clean).exit_code == 0
    assert _package_parts(output) == _package_parts(clean)
    assert cell_values(output, "Data", "B", range(1, 31)) == [f"[English] {t}" for t in TEXTS]


def test_ctrl_c_stops_with_a_resume_hint_exit_130_and_no_output(glm_env, tmp_path, monkeypatch):
    import signal

    book = write_book(tmp_path / "c.xlsx", [(text,) for text in TEXTS])
    monkeypatch.setenv("EXCEL_GLM_PACK_MAX_ITEMS", "1")
    monkeypatch.setenv("EXCEL_GLM_CONCURRENCY", "1")
    glm_env.set_latency(base_ms=150)
    process = subprocess.Popen(
        [sys.executable, "-m", "excel_glm.cli", "translate", str(book), "-r", "Data!A1:A30",
         "--into", "B", "--to", "English"],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(glm_env.requests) < 3:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert stderr.strip().splitlines() == [
        "interrupted: answers received so far are cached; run the same command to resume"
    ]
    assert stdout == "" and not book.with_name("c.glm.xlsx").exists()
