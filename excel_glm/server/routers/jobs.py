"""Bulk jobs for the task pane: start, status, server-sent progress events, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, status
from fastapi.responses import StreamingResponse

from excel_glm.server.deps import CheckedCells, Jobs, require_token
from excel_glm.server.jobs import Job
from excel_glm.server.matrix import fold
from excel_glm.server.routers.cells import ERRORS
from excel_glm.server.schemas import JobCreated, JobProgressBody, JobStatusBody, UsageBody

router = APIRouter(
    prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)], responses=ERRORS
)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Start a bulk job")
async def start_job(job: CheckedCells, jobs: Jobs) -> JobCreated:
    """Start running the task on every cell in the background; follow it by id."""
    started = jobs.start(job.task, job.values, job.shape)
    return JobCreated(id=started.id, status="running")


@router.get("/{job_id}", summary="A job's status, and its results once done")
async def job_status(job_id: str, jobs: Jobs) -> JobStatusBody:
    """Progress, usage and, when the job is done, values and errors shaped like the request."""
    return status_body(jobs.get(job_id), with_results=True)


@router.post("/{job_id}/cancel", summary="Cancel a running job")
async def cancel_job(job_id: str, jobs: Jobs) -> JobStatusBody:
    """Ask the job to stop; answers already received stay in the cache for a re-run."""
    return status_body(jobs.cancel(job_id), with_results=False)


@router.get(
    "/{job_id}/events",
    summary="Server-sent events: progress, then done, failed or cancelled",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job_id: str, jobs: Jobs) -> StreamingResponse:
    """`event: progress` with {done, total, cache_hits, usage} on each change, then one final event
    (`done`, `failed` or `cancelled`) whose data is the job's status without its results."""
    job = jobs.get(job_id)
    return StreamingResponse(
        _event_stream(jobs, job),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _event_stream(jobs: Jobs, job: Job) -> AsyncIterator[str]:
    async for snapshot in jobs.watch(job):
        if snapshot is None:
            yield ": keep-alive\n\n"
        elif snapshot.finished:
            body = status_body(snapshot, with_results=False)
            yield _event(snapshot.status, body.model_dump_json(exclude={"values", "errors"}))
        else:
            progress = JobProgressBody(
                done=snapshot.done,
                total=snapshot.total,
                cache_hits=snapshot.cache_hits,
                usage=UsageBody.of(snapshot.usage),
            )
            yield _event("progress", progress.model_dump_json())


def _event(name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n"


def status_body(job: Job, *, with_results: bool) -> JobStatusBody:
    """The job as the API shows it."""
    body = JobStatusBody(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        done=job.done,
        total=job.total,
        cache_hits=job.cache_hits,
        usage=UsageBody.of(job.usage),
        error=job.error,
    )
    if with_results and job.results is not None:
        body.values, body.errors = fold(job.results, job.shape)
    return body
