"""Check a request's 2-D matrix, flatten it for the engine, fold the answers back to its shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from excel_glm.errors import UserError
from excel_glm.results import CellResult

SCALAR_TYPES = (str, int, float, bool)


class MatrixError(UserError):
    """The values matrix is malformed (shape or cell type): HTTP 422."""


class ParamsError(UserError):
    """A task parameter holds text no encoder can carry: HTTP 422."""


class TooManyCells(UserError):
    """The values matrix holds more cells than one request may: HTTP 422."""


@dataclass(frozen=True, slots=True)
class Shape:
    """Rows and columns of a rectangular matrix."""

    rows: int
    cols: int

    @property
    def cells(self) -> int:
        return self.rows * self.cols


def check_matrix(values: Sequence[Sequence[object]], *, max_cells: int) -> Shape:
    """The matrix's shape; raises MatrixError/TooManyCells saying what is wrong and where."""
    if not values:
        raise MatrixError('values is empty: send at least one row with one cell, e.g. [["text"]]')
    cols = len(values[0])
    if cols == 0:
        raise MatrixError("values[0] is an empty row: every row needs at least one cell")
    shape = Shape(len(values), cols)
    if shape.cells > max_cells:
        raise TooManyCells(
            f"too many cells: {shape.rows} rows x {cols} columns = {shape.cells:,} cells "
            f"(the limit is {max_cells:,} per request; split the range)"
        )
    for r, row in enumerate(values):
        if not isinstance(row, list):
            raise MatrixError(f"values[{r}] is not a row (a list of cells)")
        if len(row) != cols:
            raise MatrixError(
                f"values[{r}] has {len(row)} cells but values[0] has {cols}: "
                "rows must be equally long"
            )
        for c, value in enumerate(row):
            if value is not None and not isinstance(value, SCALAR_TYPES):
                raise MatrixError(
                    f"values[{r}][{c}] is a {type(value).__name__}: a cell must be text, a number, "
                    "true/false or null"
                )
    return shape


def flatten(values: Sequence[Sequence[object]]) -> list[object]:
    """Cells in row-major order, the order the engine answers in."""
    return [cell for row in values for cell in row]


def check_params_text(params: Mapping[str, object]) -> None:
    """Raise ParamsError if any text in the task parameters is not valid Unicode.

    Excel's LEFT/MID can cut text between the two halves of an emoji, and JSON.stringify sends
    such a half as an escape that Python decodes into a string no encoder can carry; in a cell the
    engine turns it into that cell's error, in a parameter it would fail every cell.
    """
    for name, value in params.items():
        if _has_lone_surrogate(value):
            raise ParamsError(
                f"parameter {name!r} is not valid Unicode text (it has half of a character)"
            )


def _has_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        if value.isascii():
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list | tuple):
        return any(_has_lone_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


def fold(results: Sequence[CellResult], shape: Shape) -> tuple[list[list], list[list]]:
    """Answers and errors as two matrices of `shape`: "" for a blank cell, null where it errs."""
    values: list[list] = []
    errors: list[list] = []
    it = iter(results)
    for _ in range(shape.rows):
        value_row = []
        error_row = []
        for _ in range(shape.cols):
            result = next(it)
            if result.error is not None:
                value_row.append(None)
                error_row.append(result.error)
            else:
                value_row.append("" if result.value is None else result.value)
                error_row.append(None)
        values.append(value_row)
        errors.append(error_row)
    return values, errors
