"""Workbook I/O: read A1 ranges, write text answers back without losing any other part.

ranges.py        A1 ranges and --into targets          package.py   safe opening of the zip
read.py          range values (openpyxl read-only)     write.py     zero-loss write-back
sheetxml.py      streaming XML tokenizer               sheet_rewrite.py  the worksheet rewrite
"""

from __future__ import annotations

from excel_glm.workbook.ranges import (
    A1Range,
    cell_address,
    column_index,
    column_letter,
    parse_range,
    parse_target,
)
from excel_glm.workbook.read import CellRef, RangeValues, read_range
from excel_glm.workbook.write import WriteReport, find_conflicts, write_cells

__all__ = [
    "A1Range",
    "CellRef",
    "RangeValues",
    "WriteReport",
    "cell_address",
    "column_index",
    "column_letter",
    "find_conflicts",
    "parse_range",
    "parse_target",
    "read_range",
    "write_cells",
]
