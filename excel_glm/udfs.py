"""xlwings UDFs: =GLM(), =GLM_TRANSLATE(), =GLM_CLASSIFY() and =GLM_EXTRACT() in Excel on Windows.

A thin adapter: it turns Excel arguments into one POST /v1/cells to the running excel-glm service
(excel_glm.udfs_client) and the answer back into a 2-D list that spills one answer per cell.
xlwings names each UDF after its Python function, hence the upper-case names. Argument names are
what Excel shows and become VBA parameter names, so none may be a VBA keyword (`to` is one).

Errors never raise into Excel: a problem with the whole call (service not running, refused token,
bad arguments) is one cell reading "#GLM! <message>"; a cell whose answer could not be had reads
"#GLM! <message>" in that cell only. Blank cells give blank answers.

Only xlwings' BSD decorators are used (never xlwings.server or xlwings.pro). Off Windows they do
nothing, so these are plain Python functions (that is how the tests call them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import xlwings as xw

from excel_glm.cells import EXCEL_ERRORS, cell_text
from excel_glm.errors import ExcelGlmError, UserError

if TYPE_CHECKING:
    from excel_glm.udfs_client import CellAnswers

ERROR_PREFIX = "#GLM!"
CATEGORY = "excel-glm"

# xlwings turns type hints into converters: arguments are `Any` (its default converter; `object`
# has none) and the result a list of lists, which spills.
Matrix = list[list[object]]

logger = logging.getLogger(__name__)


# async_mode="threading": Excel stays responsive while GLM works (the cell reads "#N/A waiting..."
# meanwhile); call_in_wizard=False: the Function Arguments dialog must not spend credit per key.
@xw.func(category=CATEGORY, async_mode="threading", call_in_wizard=False)
@xw.arg(
    "prompt",
    ndim=2,
    err_to_str=True,
    doc="The question or instruction (a cell, or a range of questions)",
)
@xw.arg(
    "values",
    ndim=2,
    err_to_str=True,
    doc="Optional cells to apply the prompt to, one answer per cell",
)
def GLM(prompt: Any, *values: Any) -> Matrix:
    """Ask GLM: the prompt applied to each value cell, or each prompt cell on its own; spills."""
    return _guarded(lambda: _ask(prompt, values))


@xw.func(category=CATEGORY, async_mode="threading", call_in_wizard=False)
@xw.arg("text", ndim=2, err_to_str=True, doc="A cell or range of text to translate")
@xw.arg("to_language", err_to_str=True, doc="The language to translate into, e.g. English")
@xw.arg("from_language", err_to_str=True, doc="Optional source language; detected when left out")
def GLM_TRANSLATE(text: Any, to_language: Any, from_language: Any = None) -> Matrix:
    """Translate each cell into to_language; spills one answer per cell."""

    def call() -> Matrix:
        target = _one_text("to_language", to_language)
        if not target:
            raise UserError('to_language is required, e.g. "English"')
        params = {"to": target}
        source = _one_text("from_language", from_language)
        if source:
            params["from"] = source
        return _per_cell("translate", _matrix(text), params)

    return _guarded(call)


@xw.func(category=CATEGORY, async_mode="threading", call_in_wizard=False)
@xw.arg("text", ndim=2, err_to_str=True, doc="A cell or range of text to classify")
@xw.arg(
    "labels",
    ndim=2,
    err_to_str=True,
    doc='The labels: a comma-separated text like "positive,negative" or a range',
)
@xw.arg("instructions", err_to_str=True, doc="Optional guidance on how to choose a label")
def GLM_CLASSIFY(text: Any, labels: Any, instructions: Any = None) -> Matrix:
    """Give each cell one of the labels; spills one answer per cell."""

    def call() -> Matrix:
        params: dict[str, object] = {"labels": _names_param(labels)}
        guidance = _one_text("instructions", instructions)
        if guidance:
            params["instructions"] = guidance
        return _per_cell("classify", _matrix(text), params)

    return _guarded(call)


@xw.func(category=CATEGORY, async_mode="threading", call_in_wizard=False)
@xw.arg("text", ndim=2, err_to_str=True, doc="A cell or range of text to extract from")
@xw.arg(
    "fields",
    ndim=2,
    err_to_str=True,
    doc='The fields: a comma-separated text like "name,email" or a range',
)
def GLM_EXTRACT(text: Any, fields: Any) -> Matrix:
    """Extract the fields from each cell; spills one row per cell and one column per field."""

    def call() -> Matrix:
        names = _field_names(fields)
        if not names:
            raise UserError('fields is required, e.g. "name,email"')
        return _extract(_matrix(text), names)

    return _guarded(call)


# ---------------------------------------------------------------------------------------------
# Calling the service and shaping its answer.


def _guarded(call: Callable[[], Matrix]) -> Matrix:
    """Run a UDF body; a failure of the whole call becomes one readable cell, never a traceback."""
    try:
        return call()
    except ExcelGlmError as exc:
        return [[f"{ERROR_PREFIX} {exc}"]]
    except Exception as exc:  # an async UDF that raises would stay at "#N/A waiting..." forever
        logger.exception("excel-glm UDF failed")
        return [[f"{ERROR_PREFIX} unexpected {type(exc).__name__}: {exc}"]]


def _call_service(task: str, cells: Sequence[object], params: dict[str, object]) -> CellAnswers:
    from excel_glm.udfs_client import shared_client

    return shared_client().cells(task, [_wire(cell) for cell in cells], params)


def _per_cell(task: str, matrix: Matrix, params: dict[str, object]) -> Matrix:
    """One answer per input cell, in the input's shape."""
    width = len(matrix[0])
    flat = [cell for row in matrix for cell in row]
    answers = _call_service(task, flat, params)
    shown = [
        _shown(value, error) for value, error in zip(answers.values, answers.errors, strict=True)
    ]
    return [shown[start : start + width] for start in range(0, len(shown), width)]


def _extract(matrix: Matrix, fields: list[str]) -> Matrix:
    """One row per input cell (row by row) and one column per field, like the add-in's spill."""
    flat = [cell for row in matrix for cell in row]
    answers = _call_service("extract", flat, {"fields": fields})
    rows: Matrix = []
    for value, error in zip(answers.values, answers.errors, strict=True):
        if error is not None:
            rows.append([f"{ERROR_PREFIX} {error}"] * len(fields))
        elif value is None or value == "":
            rows.append([""] * len(fields))
        elif isinstance(value, dict):
            rows.append([_field_value(value, name) for name in fields])
        else:
            rows.append([f"{ERROR_PREFIX} the service answered text, not fields"] * len(fields))
    return rows


def _shown(value: object, error: str | None) -> str:
    if error is not None:
        return f"{ERROR_PREFIX} {error}"
    if value is None:
        return ""
    if isinstance(value, list):  # a multi-label classification
        return ", ".join(str(item) for item in value)
    return str(value)


def _field_value(answer: dict[object, object], name: str) -> str:
    if name in answer:
        return _shown(answer[name], None)
    folded = {str(key).strip().casefold(): item for key, item in answer.items()}
    if name.strip().casefold() in folded:
        return _shown(folded[name.strip().casefold()], None)
    return f"{ERROR_PREFIX} no value for field {name!r}"


# ---------------------------------------------------------------------------------------------
# GLM(prompt, values...): which cells to ask about and with which prompt.


def _ask(prompt: object, values: Sequence[object]) -> Matrix:
    # xlwings passes None for a vararg left out (`=GLM("x",)`); a blank cell arrives as [[None]].
    ranges = [_matrix(value) for value in values if value is not None]
    if not ranges:
        # Each prompt cell is its own question; an empty prompt parameter says exactly that.
        return _per_cell("ask", _matrix(prompt), {"prompt": ""})
    instruction = _one_text("prompt", prompt) or ""
    return _per_cell("ask", _combined(ranges), {"prompt": instruction})


def _combined(ranges: list[Matrix]) -> Matrix:
    """Several value ranges of one shape become one: each position's cells joined line by line.

    A single cell is repeated across the others' shape. An Excel error in any of them is that
    position's input, so the service answers it with the error.
    """
    if len(ranges) == 1:
        return ranges[0]
    shapes = {(len(m), len(m[0])) for m in ranges if (len(m), len(m[0])) != (1, 1)}
    if len(shapes) > 1:
        described = ", ".join(f"{rows}x{cols}" for rows, cols in sorted(shapes))
        raise UserError(f"the value ranges must have the same shape (got {described})")
    rows, cols = shapes.pop() if shapes else (1, 1)
    combined: Matrix = []
    for r in range(rows):
        row: list[object] = []
        for c in range(cols):
            parts = [m[0][0] if (len(m), len(m[0])) == (1, 1) else m[r][c] for m in ranges]
            row.append(_joined(parts))
        combined.append(row)
    return combined


def _joined(parts: list[object]) -> object:
    errors = [part for part in parts if _is_excel_error(part)]
    if errors:
        return errors[0]
    texts = [_plain_text(part) for part in parts]
    kept = [text for text in texts if text]
    return "\n".join(kept) if kept else None


# ---------------------------------------------------------------------------------------------
# Arguments: Excel hands over scalars or 2-D lists; Python callers may hand over 1-D lists too.


def _matrix(value: object) -> Matrix:
    """A cell or range argument as a rectangular 2-D list."""
    if not isinstance(value, list | tuple):
        return [[value]]
    if not value:
        return [[None]]
    if not any(isinstance(item, list | tuple) for item in value):
        return [list(value)]
    rows = [list(item) if isinstance(item, list | tuple) else [item] for item in value]
    if any(len(row) != len(rows[0]) for row in rows) or not rows[0]:
        raise UserError("a range argument must be rectangular")
    return rows


def _cells(value: object) -> list[object]:
    return [cell for row in _matrix(value) for cell in row]


def _param_texts(name: str, value: object) -> list[str]:
    """The filled cells of a parameter argument as text; an Excel error there is a user error."""
    texts = [text for text in (_plain_text(cell) for cell in _cells(value)) if text]
    for text in texts:
        if text in EXCEL_ERRORS:
            raise UserError(f"{name} is an Excel error: {text}")
    return texts


def _one_text(name: str, value: object) -> str | None:
    """A single-cell argument as text (None when blank); a range of several cells is an error."""
    texts = _param_texts(name, value)
    if len(texts) > 1:
        raise UserError(f"{name} must be one cell or one text, not a range of {len(texts)} cells")
    return texts[0] if texts else None


def _names_param(value: object) -> str | list[str]:
    """Labels: one cell's text as is (the service splits "a,b,c"), or one label per filled cell."""
    texts = _param_texts("labels", value)
    return texts[0] if len(texts) == 1 else texts


def _field_names(value: object) -> list[str]:
    """Fields from a comma-separated text or a range (cells may hold comma-separated text too)."""
    names: list[str] = []
    for text in _param_texts("fields", value):
        for part in text.split(","):
            name = part.strip()
            if name and name not in names:
                names.append(name)
    return names


def _is_excel_error(value: object) -> bool:
    return isinstance(value, str) and value.strip() in EXCEL_ERRORS


def _plain_text(value: object) -> str:
    """An argument cell as text ("" when blank), by the engine's own conversion rule."""
    text = cell_text(value)
    return text.strip() if text else ""


def _wire(value: object) -> object:
    """A cell as JSON: text, numbers and booleans as they are (the service converts them by the
    engine's rule); dates, which JSON lacks, as the ISO 8601 text that rule gives them."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return cell_text(value)
