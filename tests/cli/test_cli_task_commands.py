"""The four task commands against the fake GLM server: the right answer in the right cell."""

from __future__ import annotations

import pytest

from .cli_helpers import cell_values, write_book

ROWS = range(2, 6)


def test_translate_writes_each_answer_beside_its_source_and_leaves_the_input_alone(
    run_cli, glm_env, book
):
    before = book.read_bytes()
    outcome = run_cli("translate", book, "--range", "Data!B2:B5", "--into", "C", "--to", "English")
    assert outcome.exit_code == 0, outcome.stderr
    output = book.with_name("book.glm.xlsx")
    assert cell_values(output, "Data", "C", ROWS) == [
        "[English] Bonjour le monde",
        "[English] Contact: Alice alice@example.com, age 41",
        None,
        "[English] Bonjour le monde",
    ]
    assert book.read_bytes() == before
    # The repeated text was sent once; the blank cell not at all.
    assert sorted(glm_env.items_sent()) == [
        "Bonjour le monde",
        "Contact: Alice alice@example.com, age 41",
    ]


def test_summary_line_reports_cells_written_and_the_output_path(run_cli, glm_env, book):
    outcome = run_cli("translate", book, "-r", "Data!B2:B5", "--into", "C", "--to", "German")
    summary = outcome.stdout.strip().splitlines()[-1]
    assert "3 cells" in summary and "3 written" in summary and "0 errors" in summary
    assert "1 requests" in summary or "requests" in summary
    assert summary.endswith("book.glm.xlsx")


def test_translate_passes_source_language_and_glossary(run_cli, glm_env, book):
    outcome = run_cli(
        "translate", book, "-r", "Data!B2:B2", "--into", "C", "--to", "English",
        "--from", "French", "--glossary", "monde=world;bonjour=hello",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    system = glm_env.requests[0].body["messages"][0]["content"]
    assert "French" in system and "world" in system


def test_classify_writes_one_label_per_cell(run_cli, glm_env, book):
    outcome = run_cli(
        "classify", book, "-r", "Data!B2:B5", "--into", "D", "--labels", "contact,bonjour",
        "--instructions", "Pick the topic.",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    output = book.with_name("book.glm.xlsx")
    assert cell_values(output, "Data", "D", ROWS) == ["bonjour", "contact", None, "bonjour"]


def test_multi_label_classify_joins_the_labels_and_leaves_no_label_empty(run_cli, glm_env, book):
    outcome = run_cli(
        "classify", book, "-r", "Data!B2:B3", "--into", "D", "--labels", "monde,bonjour,zebra",
        "--multi-label",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    output = book.with_name("book.glm.xlsx")
    assert cell_values(output, "Data", "D", range(2, 4)) == ["monde, bonjour", None]


def test_extract_writes_one_column_per_field_in_field_order_as_text(run_cli, glm_env, book):
    outcome = run_cli(
        "extract", book, "-r", "Data!B2:B5", "--into", "D", "--fields", "name,email,age"
    )
    assert outcome.exit_code == 0, outcome.stderr
    output = book.with_name("book.glm.xlsx")
    assert cell_values(output, "Data", "D", ROWS) == ["Bonjour", "Contact", None, "Bonjour"]
    assert cell_values(output, "Data", "E", ROWS) == [None, "alice@example.com", None, None]
    # A number the model returns is written as the text it returned.
    assert cell_values(output, "Data", "F", ROWS) == [None, "41", None, None]


def test_ask_sends_the_prompt_and_writes_the_answers(run_cli, glm_env, book):
    outcome = run_cli(
        "ask", book, "-r", "Data!B2:B3", "--into", "C", "--prompt", "Summarise in 3 words"
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert cell_values(book.with_name("book.glm.xlsx"), "Data", "C", range(2, 4)) == [
        "[Summarise in 3 words] Bonjour le monde",
        "[Summarise in 3 words] Contact: Alice alice@example.com, age 41",
    ]


def test_formula_looking_answers_are_written_as_text(run_cli, glm_env, tmp_path):
    import zipfile

    answers = {"a": '=HYPERLINK("http://evil")', "b": "+1+1", "c": "-2", "d": "@SUM(A1)"}
    glm_env.oracle = lambda params, text: answers[text]
    path = write_book(tmp_path / "f.xlsx", [(key,) for key in answers])
    outcome = run_cli("ask", path, "-r", "Data!A1:A4", "--into", "B", "--prompt", "x")
    assert outcome.exit_code == 0, outcome.stderr
    output = path.with_name("f.glm.xlsx")
    assert cell_values(output, "Data", "B", range(1, 5)) == list(answers.values())
    with zipfile.ZipFile(output) as package:
        sheet = package.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet


def test_an_anchor_cell_places_the_block_and_a_quoted_sheet_name_works(run_cli, glm_env, tmp_path):
    path = write_book(tmp_path / "q.xlsx", [("a",), ("hello",), ("world",)], sheet="My Sheet")
    outcome = run_cli(
        "translate", path, "-r", "'My Sheet'!A2:A3", "--into", "C10", "--to", "French"
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert cell_values(path.with_name("q.glm.xlsx"), "My Sheet", "C", range(10, 12)) == [
        "[French] hello",
        "[French] world",
    ]


def test_a_whole_column_stops_at_the_last_used_row(run_cli, glm_env, tmp_path):
    path = write_book(tmp_path / "w.xlsx", [("one",), ("two",), ("three",)])
    outcome = run_cli("translate", path, "-r", "Data!A:A", "--into", "B", "--to", "English")
    assert outcome.exit_code == 0, outcome.stderr
    assert cell_values(path.with_name("w.glm.xlsx"), "Data", "B", range(1, 5)) == [
        "[English] one",
        "[English] two",
        "[English] three",
        None,
    ]


def test_a_multi_column_range_keeps_its_shape(run_cli, glm_env, tmp_path):
    path = write_book(tmp_path / "m.xlsx", [("a1", "b1"), ("a2", "b2")])
    outcome = run_cli("translate", path, "-r", "Data!A1:B2", "--into", "D", "--to", "X")
    assert outcome.exit_code == 0, outcome.stderr
    out = path.with_name("m.glm.xlsx")
    assert cell_values(out, "Data", "D", range(1, 3)) == ["[X] a1", "[X] a2"]
    assert cell_values(out, "Data", "E", range(1, 3)) == ["[X] b1", "[X] b2"]


def test_model_and_concurrency_overrides_reach_the_requests(run_cli, glm_env, book):
    outcome = run_cli(
        "translate", book, "-r", "Data!B2:B3", "--into", "C", "--to", "English",
        "--model", "glm-4.7", "--concurrency", "2", "--provider", "glm",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    assert {r.body["model"] for r in glm_env.requests} == {"glm-4.7"}


def test_failed_cells_are_left_empty_listed_and_exit_2(run_cli, glm_env, tmp_path):
    path = write_book(tmp_path / "e.xlsx", [("fine",), ("#N/A",), ("also fine",)])
    outcome = run_cli("translate", path, "-r", "Data!A1:A3", "--into", "B", "--to", "English")
    assert outcome.exit_code == 2
    assert "1 cell(s) failed" in outcome.stderr
    assert "A2: input is an Excel error: #N/A" in outcome.stderr
    assert cell_values(path.with_name("e.glm.xlsx"), "Data", "B", range(1, 4)) == [
        "[English] fine",
        None,
        "[English] also fine",
    ]
    assert "1 errors" in outcome.stdout


def test_out_writes_where_asked(run_cli, glm_env, book, tmp_path):
    target = tmp_path / "elsewhere.xlsx"
    outcome = run_cli(
        "translate", book, "-r", "Data!B2:B3", "--into", "C", "--to", "English", "--out", target
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert cell_values(target, "Data", "C", range(2, 3)) == ["[English] Bonjour le monde"]
    assert not book.with_name("book.glm.xlsx").exists()


def test_in_place_rewrites_the_input_after_a_backup(run_cli, glm_env, book):
    before = book.read_bytes()
    outcome = run_cli(
        "translate", book, "-r", "Data!B2:B3", "--into", "C", "--to", "English", "--in-place"
    )
    assert outcome.exit_code == 0, outcome.stderr
    backup = book.with_name("book.xlsx.bak")
    assert backup.read_bytes() == before
    assert cell_values(book, "Data", "C", range(2, 3)) == ["[English] Bonjour le monde"]
    assert "backed up to" in outcome.stdout and not book.with_name("book.glm.xlsx").exists()


def test_out_equal_to_the_input_is_refused(run_cli, glm_env, book):
    outcome = run_cli(
        "translate", book, "-r", "Data!B2:B3", "--into", "C", "--to", "English", "--out", book
    )
    assert outcome.exit_code == 1
    assert outcome.stderr_lines == [outcome.stderr_lines[0]]
    assert "--in-place" in outcome.stderr and glm_env.requests == []


def test_a_non_empty_target_is_refused_before_any_call_unless_overwrite(run_cli, glm_env, book):
    # Column A holds the ids: writing there needs --overwrite.
    args = ["translate", book, "-r", "Data!B2:B3", "--into", "A", "--to", "English"]
    refused = run_cli(*args)
    assert refused.exit_code == 1
    assert "A2" in refused.stderr and "--overwrite" in refused.stderr
    assert glm_env.requests == [] and not book.with_name("book.glm.xlsx").exists()

    replaced = run_cli(*args, "--overwrite")
    assert replaced.exit_code == 0, replaced.stderr
    assert cell_values(book.with_name("book.glm.xlsx"), "Data", "A", range(2, 4)) == [
        "[English] Bonjour le monde",
        "[English] Contact: Alice alice@example.com, age 41",
    ]


def test_a_formula_target_is_never_overwritten(run_cli, glm_env, tmp_path):
    path = write_book(tmp_path / "f.xlsx", [("x", "=1+1")])
    outcome = run_cli(
        "translate", path, "-r", "Data!A1", "--into", "B", "--to", "English", "--overwrite"
    )
    assert outcome.exit_code == 1
    assert "B1" in outcome.stderr and "formula" in outcome.stderr
    assert glm_env.requests == []


def test_dry_run_estimates_and_calls_nothing_writes_nothing(run_cli, glm_env, book):
    outcome = run_cli(
        "translate", book, "-r", "Data!B2:B5", "--into", "C", "--to", "English", "--dry-run"
    )
    assert outcome.exit_code == 0, outcome.stderr
    line = outcome.stdout.strip()
    assert line.startswith("dry run: ")
    assert "distinct" in line and "cache hits" in line and "tokens" in line and "$" in line
    assert glm_env.requests == []
    assert sorted(p.name for p in book.parent.iterdir()) == ["book.xlsx"]


def test_dry_run_counts_answers_already_in_the_cache(run_cli, glm_env, book):
    args = ["translate", book, "-r", "Data!B2:B5", "--into", "C", "--to", "English"]
    assert run_cli(*args).exit_code == 0
    sent = len(glm_env.requests)
    outcome = run_cli(*args, "--dry-run")
    assert "2 cache hits" in outcome.stdout or "3 cache hits" in outcome.stdout
    assert len(glm_env.requests) == sent


def test_a_rerun_is_answered_from_the_cache(run_cli, glm_env, book):
    args = ["translate", book, "-r", "Data!B2:B5", "--into", "C", "--to", "English"]
    first = run_cli(*args)
    sent = len(glm_env.requests)
    second = run_cli(*args)
    assert first.exit_code == second.exit_code == 0
    assert len(glm_env.requests) == sent
    assert "0 requests" in second.stdout


@pytest.mark.parametrize("threshold_env", ["0"])
def test_a_dear_run_without_a_terminal_is_refused_unless_yes(
    run_cli, glm_env, book, monkeypatch, threshold_env
):
    monkeypatch.setenv("EXCEL_GLM_CONFIRM_COST_ABOVE", threshold_env)
    args = ["translate", book, "-r", "Data!B2:B3", "--into", "C", "--to", "English"]
    refused = run_cli(*args)
    assert refused.exit_code == 1
    assert len(refused.stderr_lines) == 1 and "--yes" in refused.stderr
    assert glm_env.requests == [] and not book.with_name("book.glm.xlsx").exists()
    accepted = run_cli(*args, "--yes")
    assert accepted.exit_code == 0, accepted.stderr


@pytest.mark.filterwarnings("ignore:Unknown extension:UserWarning")  # openpyxl reading it back
def test_a_macro_workbook_gives_a_macro_workbook_with_its_vba_untouched(run_cli, glm_env, tmp_path):
    import zipfile

    from excel_glm.workbook.write import write_cells

    from .cli_helpers import CORPUS

    path = tmp_path / "macro.xlsm"
    write_cells(CORPUS / "62629_target.xlsm", path, "IT", {(1, 1): "bonjour"})
    outcome = run_cli("translate", path, "-r", "IT!A1", "--into", "B", "--to", "English")
    assert outcome.exit_code == 0, outcome.stderr
    output = tmp_path / "macro.glm.xlsm"
    assert cell_values(output, "IT", "B", range(1, 2)) == ["[English] bonjour"]
    with zipfile.ZipFile(path) as before, zipfile.ZipFile(output) as after:
        assert after.read("xl/vbaProject.bin") == before.read("xl/vbaProject.bin")
