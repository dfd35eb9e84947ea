"""POST /v1/cells and /v1/estimate: a matrix in, the same shape out; or what it would cost."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response

from excel_glm.server.deps import CheckedCells, EngineDep, State, require_token
from excel_glm.server.matrix import fold
from excel_glm.server.schemas import (
    CellsResponse,
    ErrorBody,
    EstimateResponse,
    UsageBody,
)

ERRORS = {
    401: {"model": ErrorBody, "description": "missing or wrong token"},
    403: {"model": ErrorBody, "description": "foreign Origin or Host"},
    413: {"model": ErrorBody, "description": "request body too large"},
    422: {"model": ErrorBody, "description": "bad task, params, matrix or too many cells"},
    502: {"model": ErrorBody, "description": "the provider refused (key, balance, quota)"},
    503: {"model": ErrorBody, "description": "the provider is unavailable; retry later"},
}

router = APIRouter(
    prefix="/v1", tags=["cells"], dependencies=[Depends(require_token)], responses=ERRORS
)


@router.post("/cells", response_model=CellsResponse, summary="Answer every cell of a matrix")
async def answer_cells(job: CheckedCells, engine: EngineDep, state: State) -> Response:
    """Run the task on every cell; blanks stay blank, a failed cell gets its own error."""
    answered = await state.inflight.answer(engine, job.task, job.values)
    values, errors = fold(answered.results, job.shape)
    body = CellsResponse.model_construct(
        values=values, errors=errors, usage=UsageBody.of(answered.usage)
    )
    # Serialised by pydantic's Rust encoder in one pass: a 10,000-cell answer is on the hot path.
    return Response(body.model_dump_json(), media_type="application/json")


@router.post("/estimate", summary="Estimate cells, cache hits, tokens and cost without a call")
async def estimate(job: CheckedCells, engine: EngineDep) -> EstimateResponse:
    """What running the task on these cells would cost; calls no model."""
    # A thread: estimating 100,000 cells reads the cache for a while; formulas keep being answered.
    estimate = await asyncio.to_thread(engine.estimate, job.task, job.values)
    return EstimateResponse(
        cells=estimate.cells,
        distinct=estimate.distinct,
        cache_hits=estimate.cache_hits,
        prompt_tokens=estimate.prompt_tokens,
        completion_tokens=estimate.completion_tokens,
        cost=estimate.cost,
    )
