"""create_app(settings): the FastAPI service, with one engine shared by every request and job."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from excel_glm.config import Settings
from excel_glm.errors import (
    ExcelGlmError,
    ProviderError,
    RetryableProviderError,
    RunCancelled,
    UserError,
)
from excel_glm.server.deps import ServiceEngine, ServiceState
from excel_glm.server.inflight import InflightCells
from excel_glm.server.jobs import JobLimits, JobNotFound, JobRegistry, TooManyJobs
from excel_glm.server.routers import addin, cells, docs, health, jobs
from excel_glm.server.security import LoopbackGuard, Redactor, ServiceLimits
from excel_glm.token import load_or_create_token

log = logging.getLogger("excel_glm.server")

# Seconds a client should wait before retrying after the provider was unavailable.
RETRY_AFTER_S = 5


def create_app(
    settings: Settings,
    *,
    engine: ServiceEngine | None = None,
    limits: ServiceLimits | None = None,
    job_limits: JobLimits | None = None,
) -> FastAPI:
    """Build the service for `settings`; the engine (given, or built at start-up) serves every call.

    An engine passed in belongs to the caller, who closes it; one built here closes at shutdown.
    """
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    token = load_or_create_token(settings)
    redact = Redactor([api_key, token])
    state = ServiceState(
        settings=settings,
        token=token,
        limits=limits or ServiceLimits(),
        redact=redact,
        inflight=InflightCells(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        if engine is None:
            from excel_glm.engine import build_engine

            state.engine = build_engine(settings)
        else:
            state.engine = engine
        state.jobs = JobRegistry(state.engine, limits=job_limits, redact=redact)
        try:
            yield
        finally:
            await state.jobs.aclose()
            await state.inflight.aclose()
            if owned:
                await state.engine.aclose()
            state.engine = state.jobs = None

    app = FastAPI(
        title="excel-glm",
        summary="GLM in spreadsheets: the local service behind the Office add-in and xlwings UDFs",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # served by routers.docs, with its files pinned by hash
        redoc_url=None,
    )
    app.state.service = state
    app.include_router(health.router)
    app.include_router(cells.router)
    app.include_router(jobs.router)
    app.include_router(addin.router)
    app.include_router(docs.router)
    _add_error_handlers(app, redact)
    app.add_middleware(LoopbackGuard, port=settings.port, limits=state.limits, redact=redact)
    return app


def _add_error_handlers(app: FastAPI, redact: Redactor) -> None:
    """Map the one exception tree to HTTP, with one redacted message and never a traceback."""

    def answer(status: int, exc: BaseException, **headers: str) -> JSONResponse:
        return JSONResponse({"detail": redact(str(exc))}, status_code=status, headers=headers)

    @app.exception_handler(ExcelGlmError)
    async def excel_glm_error(request: Request, exc: ExcelGlmError) -> JSONResponse:
        if isinstance(exc, JobNotFound):
            return answer(404, exc)
        if isinstance(exc, TooManyJobs):
            return answer(429, exc)
        if isinstance(exc, UserError):
            return answer(422, exc)
        if isinstance(exc, RetryableProviderError):
            return answer(503, exc, **{"Retry-After": str(RETRY_AFTER_S)})
        if isinstance(exc, ProviderError):  # fatal: key, balance, quota
            log.warning("provider error: %s", redact(str(exc)))
            return answer(502, exc)
        if isinstance(exc, RunCancelled):
            return answer(409, exc)
        log.error("unexpected excel-glm error: %s", redact(repr(exc)))
        return answer(500, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)


def _validation_message(exc: RequestValidationError) -> str:
    """Pydantic's complaints as one line: where, and what was expected (never the input echoed)."""
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


def _version() -> str:
    from excel_glm import __version__

    return __version__
