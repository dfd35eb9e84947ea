"""Run the add-in's JavaScript unit tests (Node's built-in runner) as part of the pytest suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_node_unit_tests_pass():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the add-in's unit tests need Node 20 (node --test)")
    completed = subprocess.run(
        [node, "--test", "addin/tests/"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "# pass" in completed.stdout, completed.stdout + completed.stderr
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
