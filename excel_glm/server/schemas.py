"""Request and response bodies of the HTTP API (what /docs shows and what clients send)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from excel_glm.results import Usage

# A cell as JSON carries it: text, a number, true/false or null (an Excel error arrives as its text,
# "#N/A"). The matrix is typed loosely and checked by hand (server/matrix.py): validating 100,000
# cells through a pydantic union costs more than the rest of a cached request and its messages
# would name union branches instead of the offending cell.
Matrix = list[list[Any]]
AnswerValue = str | dict[str, str] | None


class CellsRequest(BaseModel):
    """One task applied to every cell of a 2-D matrix (a range, row by row)."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="translate, classify, extract or ask", examples=["translate"])
    values: Matrix = Field(
        description="rows of cells: text, numbers, true/false or null (blank); same-length rows",
        examples=[[["Bonjour"], ["Merci"], [None]]],
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description='task parameters, e.g. {"to": "English"}, {"labels": "pos,neg"}, '
        '{"fields": "name,email"}, {"prompt": "..."}',
        examples=[{"to": "English"}],
    )


class UsageBody(BaseModel):
    """Tokens, requests and cost (USD) a call caused; cache hits cost nothing."""

    cells: int = 0
    distinct: int = 0
    cache_hits: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0

    @classmethod
    def of(cls, usage: Usage) -> UsageBody:
        """Copy the engine's usage record."""
        return cls.model_construct(**usage.as_dict())


class CellsResponse(BaseModel):
    """Answers in the shape of the request: a value or an error per cell, never both."""

    values: list[list[AnswerValue]] = Field(
        description='the answer per cell: text, an object {field: text} for extract, "" for a '
        "blank cell, null where the cell has an error"
    )
    errors: list[list[str | None]] = Field(description="null, or why that cell has no answer")
    usage: UsageBody


class EstimateResponse(BaseModel):
    """What a run would cost, computed without calling the model."""

    cells: int
    distinct: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


JobState = Literal["running", "done", "failed", "cancelled"]


class JobCreated(BaseModel):
    """A bulk job that started running."""

    id: str
    status: JobState


class JobProgressBody(BaseModel):
    """A job's progress: `done` of `total` non-blank cells have an answer or an error."""

    done: int
    total: int
    cache_hits: int
    usage: UsageBody


class JobStatusBody(JobProgressBody):
    """A job's state; `values` and `errors` (shaped like the request) once it is done."""

    id: str
    status: JobState
    error: str | None = None
    values: list[list[AnswerValue]] | None = None
    errors: list[list[str | None]] | None = None


class HealthBody(BaseModel):
    """The service is up, and which model it uses."""

    status: Literal["ok"] = "ok"
    provider: str
    model: str


class ErrorBody(BaseModel):
    """Every error answer: one message saying what went wrong."""

    detail: str
