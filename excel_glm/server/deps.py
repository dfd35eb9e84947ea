"""What routes depend on: the shared state, the token check and a checked cells request.

Every dependency is `async def` although none awaits: FastAPI runs plain `def` dependencies in a
thread pool, a thread hop per dependency per request that a one-cell call does not need."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from excel_glm.config import Settings
from excel_glm.results import Estimate, Progress, RunResult
from excel_glm.server.inflight import InflightCells
from excel_glm.server.jobs import JobRegistry
from excel_glm.server.matrix import Shape, check_matrix, check_params_text, flatten
from excel_glm.server.schemas import CellsRequest
from excel_glm.server.security import Redactor, ServiceLimits, token_matches
from excel_glm.tasks import make_task


class ServiceEngine(Protocol):
    """The engine as the service uses it (excel_glm.engine.Engine)."""

    async def run(
        self,
        task: Any,
        values: Sequence[object],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> RunResult: ...

    def estimate(self, task: Any, values: Sequence[object]) -> Estimate: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class ServiceState:
    """Everything one service instance shares between requests (app.state.service)."""

    settings: Settings
    token: str
    limits: ServiceLimits
    redact: Redactor
    inflight: InflightCells
    engine: ServiceEngine | None = None
    jobs: JobRegistry | None = None


@dataclass(frozen=True, slots=True)
class CellsJob:
    """A cells request that passed every check: the task built, the cells flat, the shape known."""

    task: Any
    values: list[object]
    shape: Shape


async def get_state(request: Request) -> ServiceState:
    """The service's shared state."""
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]

# auto_error=False: a missing header is answered 401 by require_token, like a wrong one.
bearer_scheme = HTTPBearer(auto_error=False, description="the token printed by `excel-glm serve`")


async def require_token(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Refuse the call (401) unless it carries `Authorization: Bearer <the service's token>`."""
    presented = None if credentials is None else f"Bearer {credentials.credentials}"
    if not token_matches(presented, state.token):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def get_engine(state: State) -> ServiceEngine:
    """The one engine of this service (built at start-up)."""
    if state.engine is None:
        raise RuntimeError("the service's lifespan has not started")
    return state.engine


async def get_jobs(state: State) -> JobRegistry:
    """The job registry of this service."""
    if state.jobs is None:
        raise RuntimeError("the service's lifespan has not started")
    return state.jobs


async def checked_cells(body: CellsRequest, state: State) -> CellsJob:
    """Build the task (TaskError: 422) and check the matrix (shape, cell types, cell count)."""
    shape = check_matrix(body.values, max_cells=state.limits.max_cells)
    check_params_text(body.params)
    task = make_task(body.task, body.params)
    return CellsJob(task=task, values=flatten(body.values), shape=shape)


EngineDep = Annotated[ServiceEngine, Depends(get_engine)]
Jobs = Annotated[JobRegistry, Depends(get_jobs)]
CheckedCells = Annotated[CellsJob, Depends(checked_cells)]
