"""Benchmark: write 100,000 answers into a 100,000-row workbook, beside openpyxl's load-and-save.

    python benchmarks/writeback_bench.py [--rows 100000]

Prints JSON. Each measured step runs in its own Python process, which reports its wall time, its
CPU time (the fair comparison on a busy machine) and its peak resident memory (getrusage
ru_maxrss: it counts C allocations, which tracemalloc misses); the parent cross-checks with
RUSAGE_CHILDREN. "baseline" is a process that only imports the modules, so a step's own cost is
its figure minus the baseline's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

BUILD = """
import random, zipfile
from xml.sax.saxutils import escape
rows, path = {rows}, {path!r}
words = "good bad fast slow price quality delivery broken love hate works again never".split()
rng = random.Random(7)
ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
def sheet():
    yield f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\\n<worksheet {{ns}}>'
    yield f'<dimension ref="A1:B{{rows}}"/><sheetData>'
    for r in range(1, rows + 1):
        review = escape(" ".join(rng.choice(words) for _ in range(12)))
        yield (f'<row r="{{r}}"><c r="A{{r}}" t="inlineStr"><is><t>id-{{r}}</t></is></c>'
               f'<c r="B{{r}}" t="inlineStr"><is><t>{{review}}</t></is></c></row>')
    yield "</sheetData></worksheet>"
from openpyxl import Workbook
Workbook().save(path)  # a valid package; its sheet is then replaced by the big one
with zipfile.ZipFile(path) as src:
    parts = {{i.filename: src.read(i) for i in src.infolist()}}
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
    for name, data in parts.items():
        if name == "xl/worksheets/sheet1.xml":
            with out.open(name, "w") as sink:
                for piece in sheet():
                    sink.write(piece.encode())
        else:
            out.writestr(name, data)
"""

PRELUDE = """
import json, resource, time
from pathlib import Path
import openpyxl
from excel_glm.workbook import write_cells, read_range, parse_range, find_conflicts
source, dest, rows = Path({source!r}), Path({dest!r}), {rows}
start = time.perf_counter()
_usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_start = _usage.ru_utime + _usage.ru_stime
"""

STEPS = {
    "baseline": "pass",
    "excel_glm_write_cells": (
        'answers = {{(r, 3): f"answer number {{r}}" for r in range(1, rows + 1)}}\n'
        'report = write_cells(source, dest, "Sheet", answers)\n'
        "assert report.written == rows"
    ),
    "excel_glm_find_conflicts": (
        'assert find_conflicts(source, "Sheet", ((r, 3) for r in range(1, rows + 1)),'
        " overwrite=False) == []"
    ),
    "excel_glm_read_range": (
        'cells = read_range(source, parse_range("Sheet!B:B")).cells\nassert len(cells) == rows'
    ),
    "openpyxl_load_and_save": "openpyxl.load_workbook(source).save(dest)",
}

REPORT = """
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu_start
print(json.dumps({{"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                  "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}}))
"""


def run_step(code: str, **fields: object) -> dict:
    """Run one step in a fresh interpreter; its JSON line plus the parent's view of its RSS."""
    script = (PRELUDE + textwrap.dedent(code) + "\n" + REPORT).format(**fields)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # RUSAGE_CHILDREN keeps the largest child so far; it only says something new when it grew.
    result["children_peak_rss_mb"] = round(max(before, after) / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="writeback-bench-") as folder:
        source = Path(folder) / "big.xlsx"
        subprocess.run(
            [sys.executable, "-c", BUILD.format(rows=args.rows, path=str(source))], check=True
        )
        results: dict[str, object] = {
            "rows": args.rows,
            "workbook_bytes": source.stat().st_size,
        }
        for name, code in STEPS.items():
            dest = Path(folder) / f"{name}.xlsx"
            results[name] = run_step(code, source=str(source), dest=str(dest), rows=args.rows)
        ours = results["excel_glm_write_cells"]
        theirs = results["openpyxl_load_and_save"]
        assert isinstance(ours, dict) and isinstance(theirs, dict)
        # CPU seconds are the fair comparison on a shared machine; wall seconds are shown too.
        results["speedup_vs_openpyxl"] = round(theirs["cpu_seconds"] / ours["cpu_seconds"], 2)
        results["targets_met"] = {
            "faster_than_openpyxl": ours["cpu_seconds"] < theirs["cpu_seconds"],
            "under_300_mb": ours["peak_rss_mb"] < 300,
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
