"""The sample workbook and the README's main command on it."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import zipfile

import openpyxl
import pytest

from .cli_helpers import REPO, SAMPLE, cell_values

README_RANGE = "Reviews!B2:B37"


def _load_make_sample():
    spec = importlib.util.spec_from_file_location(
        "make_sample", REPO / "samples" / "make_sample.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_sample_is_what_the_script_builds(tmp_path):
    _load_make_sample().main(["make_sample.py", str(tmp_path / "rebuilt.xlsx")])
    assert (tmp_path / "rebuilt.xlsx").read_bytes() == SAMPLE.read_bytes()


def test_the_sample_has_a_header_reviews_a_formula_column_and_a_chart():
    make_sample = _load_make_sample()
    workbook = openpyxl.load_workbook(SAMPLE)
    sheet = workbook["Reviews"]
    assert [c.value for c in sheet[1]][:4] == ["id", "review", "stars", "length"]
    reviews = [sheet[f"B{row}"].value for row in range(2, 38)]
    assert reviews == [text for text, _ in make_sample.REVIEWS]
    assert sheet["B38"].value is None
    assert all(sheet[f"D{row}"].value == f"=LEN(B{row})" for row in range(2, 38))
    cached = openpyxl.load_workbook(SAMPLE, data_only=True)["Reviews"]
    assert [cached[f"D{row}"].value for row in range(2, 38)] == [len(t) for t in reviews]
    with zipfile.ZipFile(SAMPLE) as package:
        assert any(name.startswith("xl/charts/chart") for name in package.namelist())


def test_the_readme_command_translates_every_review_and_keeps_the_chart(
    run_cli, glm_env, sample_copy
):
    outcome = run_cli(
        "translate", sample_copy, "--range", README_RANGE, "--to", "English", "--into", "E"
    )
    assert outcome.exit_code == 0, outcome.stderr
    output = sample_copy.with_name("reviews.glm.xlsx")
    reviews = cell_values(sample_copy, "Reviews", "B", range(2, 38))
    assert cell_values(output, "Reviews", "E", range(2, 38)) == [f"[English] {t}" for t in reviews]
    with zipfile.ZipFile(sample_copy) as before, zipfile.ZipFile(output) as after:
        changed = [n for n in before.namelist() if before.read(n) != after.read(n)]
        assert set(after.namelist()) >= set(before.namelist())
    assert changed == ["xl/worksheets/sheet1.xml"]


def test_a_formula_column_contributes_its_cached_values(run_cli, glm_env, sample_copy):
    outcome = run_cli("ask", sample_copy, "-r", "Reviews!D2:D3", "--into", "F", "--prompt", "n")
    assert outcome.exit_code == 0, outcome.stderr
    lengths = [len(t) for t in cell_values(sample_copy, "Reviews", "B", range(2, 4))]
    output = sample_copy.with_name("reviews.glm.xlsx")
    assert cell_values(output, "Reviews", "F", range(2, 4)) == [f"[n] {n}" for n in lengths]


@pytest.mark.libreoffice
def test_libreoffice_reads_the_written_answers(run_cli, glm_env, sample_copy, tmp_path):
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is not installed"
    outcome = run_cli(
        "translate", sample_copy, "--range", README_RANGE, "--to", "English", "--into", "E"
    )
    assert outcome.exit_code == 0, outcome.stderr
    output = sample_copy.with_name("reviews.glm.xlsx")
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
         "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path),
         str(output)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with (tmp_path / "reviews.glm.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][4] == "review (English)"
    assert [row[4] for row in rows[1:37]] == [f"[English] {row[1]}" for row in rows[1:37]]
    assert rows[1][3] == str(len(rows[1][1]))  # the formula column still computes


@pytest.mark.local_model
def test_the_readme_command_runs_offline_with_the_embedded_model(run_cli, sample_copy):
    # No API key (the autouse fixture removes them): the provider is the embedded model.
    outcome = run_cli(
        "translate", sample_copy, "--range", "Reviews!B2:B4", "--to", "English", "--into", "E"
    )
    assert outcome.exit_code == 0, outcome.stderr
    answers = cell_values(sample_copy.with_name("reviews.glm.xlsx"), "Reviews", "E", range(2, 5))
    assert all(isinstance(a, str) and a.strip() for a in answers), answers
    assert "3 cells, 3 written, 0 errors" in outcome.stdout
