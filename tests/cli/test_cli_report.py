"""What the CLI prints: estimate, summary, failed cells, and when it asks before spending."""

from __future__ import annotations

from pathlib import Path

import pytest

from excel_glm.cli_report import (
    FAILURES_SHOWN,
    RunSummary,
    confirm_spend,
    format_estimate,
    format_failures,
    format_summary,
)
from excel_glm.errors import UserError
from excel_glm.results import Estimate, Usage

ESTIMATE = Estimate(
    cells=120, distinct=80, cache_hits=30, prompt_tokens=4000, completion_tokens=1000, cost=2.5
)


def test_estimate_line_gives_cells_distinct_hits_tokens_and_cost():
    line = format_estimate(ESTIMATE)
    assert "120 cells" in line and "80 distinct" in line and "30 cache hits" in line
    assert "~5,000 tokens" in line and "$2.5000" in line
    assert "nothing sent" in line


def test_summary_line_is_one_line_with_every_figure():
    usage = Usage(cache_hits=3, requests=4, prompt_tokens=900, completion_tokens=100, cost=0.0123)
    summary = RunSummary(cells=10, written=9, errors=1, usage=usage, output=Path("out.xlsx"))
    line = format_summary(summary)
    assert "\n" not in line
    for part in ("10 cells", "9 written", "1 errors", "3 cache hits", "4 requests"):
        assert part in line
    assert "1,000 tokens" in line and "$0.0123" in line and line.endswith("out.xlsx")


def test_summary_names_the_backup_of_an_in_place_run():
    output, backup = Path("b.xlsx"), Path("b.xlsx.bak")
    summary = RunSummary(cells=1, written=1, errors=0, usage=Usage(), output=output, backup=backup)
    assert "backed up to b.xlsx.bak" in format_summary(summary)


def test_failures_list_counts_all_and_shows_the_first_few():
    failures = [(f"C{row}", f"problem {row}") for row in range(2, 2 + FAILURES_SHOWN + 3)]
    lines = format_failures(failures)
    assert lines[0].startswith(f"{len(failures)} cell(s) failed")
    assert lines[1] == "  C2: problem 2"
    assert len(lines) == 1 + FAILURES_SHOWN + 1
    assert lines[-1] == "  ... and 3 more"


def test_no_failures_print_nothing():
    assert format_failures([]) == []


def _never_asked(question: str) -> bool:
    raise AssertionError("asked although it should not have")


def test_a_run_under_the_threshold_is_not_questioned():
    confirm_spend(ESTIMATE, 5.0, assume_yes=False, interactive=False, ask=_never_asked)


def test_yes_skips_the_question():
    confirm_spend(ESTIMATE, 1.0, assume_yes=True, interactive=False, ask=_never_asked)


def test_without_a_terminal_a_dear_run_is_refused_with_a_hint_to_pass_yes():
    with pytest.raises(UserError, match="--yes"):
        confirm_spend(ESTIMATE, 1.0, assume_yes=False, interactive=False, ask=_never_asked)


def test_on_a_terminal_the_answer_decides():
    questions: list[str] = []

    def agree(question: str) -> bool:
        questions.append(question)
        return True

    confirm_spend(ESTIMATE, 1.0, assume_yes=False, interactive=True, ask=agree)
    assert "$2.5000" in questions[0]
    with pytest.raises(UserError, match="cancelled"):
        confirm_spend(ESTIMATE, 1.0, assume_yes=False, interactive=True, ask=lambda q: False)
