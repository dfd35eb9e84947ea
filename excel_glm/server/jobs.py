"""Bulk jobs for the task pane: an in-memory registry of engine runs with progress and cancel."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from excel_glm.errors import ExcelGlmError, RunCancelled, UserError
from excel_glm.results import CellResult, Progress, RunResult, Usage
from excel_glm.server.matrix import Shape

log = logging.getLogger("excel_glm.server")


class JobNotFound(UserError):
    """No job has this id (never existed, or finished long enough ago to be forgotten): HTTP 404."""


class TooManyJobs(UserError):
    """Too many jobs are running at once: HTTP 429."""


class JobRunner(Protocol):
    """What a job needs of the engine."""

    async def run(
        self,
        task: object,
        values: Sequence[object],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> RunResult: ...


@dataclass(frozen=True, slots=True)
class JobLimits:
    """How many jobs run at once, and how many finished ones are remembered, for how long."""

    max_running: int = 4
    max_finished: int = 50
    finished_ttl_s: float = 3600.0


@dataclass(eq=False, slots=True)
class Job:
    """One bulk run: its state, its progress and, once done, its results in input order."""

    id: str
    shape: Shape
    status: str = "running"
    done: int = 0
    total: int = 0
    cache_hits: int = 0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    results: list[CellResult] | None = None
    finished_at: float | None = None
    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)
    # Replaced on every change; a watcher holding the old one is woken by it being set.
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def touch(self) -> None:
        """Wake everyone watching this job."""
        previous, self.changed = self.changed, asyncio.Event()
        previous.set()


class JobRegistry:
    """Starts, tracks, cancels and forgets jobs; one per service."""

    def __init__(
        self,
        engine: JobRunner,
        *,
        limits: JobLimits | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self._engine = engine
        self._limits = limits or JobLimits()
        self._redact = redact
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, task: object, values: list[object], shape: Shape) -> Job:
        """Start answering `values` (row-major cells of `shape`) in the background."""
        self._forget_old()
        running = sum(1 for job in self._jobs.values() if not job.finished)
        if running >= self._limits.max_running:
            raise TooManyJobs(
                f"{running} jobs are already running (the limit is {self._limits.max_running}); "
                "wait for one to finish or cancel one"
            )
        job = Job(id=secrets.token_urlsafe(12), shape=shape)
        self._jobs[job.id] = job
        self._tasks[job.id] = asyncio.create_task(self._run(job, task, values))
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id; raises JobNotFound."""
        self._forget_old()
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r} (finished jobs are kept for a limited time)")
        return job

    def cancel(self, job_id: str) -> Job:
        """Ask a running job to stop; answers already paid for stay in the cache."""
        job = self.get(job_id)
        if not job.finished:
            job.cancel_event.set()
        return job

    async def watch(self, job: Job, *, keepalive_s: float = 15.0) -> AsyncIterator[Job | None]:
        """Yield the job each time it changes (None after `keepalive_s` of quiet), until it ends."""
        while True:
            changed = job.changed
            yield job
            if job.finished:
                return
            try:
                await asyncio.wait_for(changed.wait(), keepalive_s)
            except TimeoutError:
                yield None

    async def aclose(self) -> None:
        """Cancel every running job (service shutdown) and wait for them to stop."""
        for job in self._jobs.values():
            job.cancel_event.set()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: Job, task: object, values: list[object]) -> None:
        def on_progress(progress: Progress) -> None:
            job.done, job.total = progress.done, progress.total
            job.cache_hits, job.usage = progress.cache_hits, progress.usage
            job.touch()

        try:
            run = await self._engine.run(
                task, values, on_progress=on_progress, cancel=job.cancel_event
            )
        except (RunCancelled, asyncio.CancelledError):
            self._finish(job, "cancelled", None)
        except ExcelGlmError as exc:
            self._finish(job, "failed", self._redact(str(exc)))
        except Exception as exc:
            trace = "".join(traceback.format_exception(exc))
            log.error("job %s failed unexpectedly: %s", job.id, self._redact(trace))
            self._finish(job, "failed", "internal error in the service; see its log")
        else:
            job.results = run.results
            job.usage = run.usage
            job.done = job.total = sum(
                1 for r in run.results if r.value is not None or r.error is not None
            )
            job.cache_hits = run.usage.cache_hits
            self._finish(job, "done", None)
        finally:
            self._tasks.pop(job.id, None)

    def _finish(self, job: Job, status: str, error: str | None) -> None:
        job.status, job.error, job.finished_at = status, error, time.monotonic()
        job.touch()

    def _forget_old(self) -> None:
        finished = sorted(
            (job for job in self._jobs.values() if job.finished_at is not None),
            key=lambda job: job.finished_at or 0.0,
        )
        cutoff = time.monotonic() - self._limits.finished_ttl_s
        excess = len(finished) - self._limits.max_finished
        for index, job in enumerate(finished):
            if index < excess or (job.finished_at or 0.0) < cutoff:
                del self._jobs[job.id]
