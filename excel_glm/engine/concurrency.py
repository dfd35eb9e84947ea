"""Adaptive concurrency (AIMD) shared by every engine in the process.

One `AdaptiveLimiter` per (provider, base_url, model), from `shared_limiter`. The service runs one
engine, but the Python API may build several, on different event loops and threads (a sync call
from Jupyter runs its loop in a worker thread). asyncio primitives are bound to one loop, so the
limiter keeps its state under a `threading.Lock` and wakes each waiter on its own loop with
`call_soon_threadsafe`.

The limit halves on an overload answer (1302/1305...), but only once per generation: `acquire`
returns the generation in force when the slot was granted, and an overload reported by a request
granted before the last decrease is ignored (the requests already in flight report the same
overload; counting each would collapse the limit to 1). It grows by 1/limit per success (about one
slot per window of successes) back up to the configured ceiling.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    granted: bool = False
    generation: int = 0


class AdaptiveLimiter:
    """A thread-safe, loop-agnostic semaphore whose size adapts (AIMD) to overload signals."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self._limit = float(self.ceiling)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[_Waiter] = deque()
        self.generation = 0
        self.decreases = 0

    @property
    def limit(self) -> int:
        """Requests allowed in flight right now."""
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self) -> int:
        """Wait for a slot; returns the generation to pass to `on_overload`."""
        with self._lock:
            if self._in_flight < self.limit and not self._waiters:
                self._in_flight += 1
                return self.generation
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.granted:
                    self._release_locked()
                else:
                    self._waiters.remove(waiter)
            raise
        return waiter.generation

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._release_locked()

    def _release_locked(self) -> None:
        self._in_flight -= 1
        self._wake_locked()

    def _wake_locked(self) -> None:
        while self._waiters and self._in_flight < self.limit:
            waiter = self._waiters.popleft()
            waiter.granted = True
            waiter.generation = self.generation
            self._in_flight += 1
            try:
                waiter.loop.call_soon_threadsafe(_grant, waiter.future)
            except RuntimeError:  # its loop is closed: nobody is waiting there any more
                waiter.granted = False
                self._in_flight -= 1

    def on_overload(self, generation: int | None = None) -> None:
        """Halve the limit after a 1302/1305-style answer to a request of `generation`
        (None: always)."""
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self.generation += 1
            self._limit = max(1.0, self._limit / 2)
            self.decreases += 1

    def on_success(self) -> None:
        """Grow the limit slowly back towards its ceiling."""
        with self._lock:
            if self._limit < self.ceiling:
                self._limit = min(float(self.ceiling), self._limit + 1 / self._limit)
                self._wake_locked()

    async def __aenter__(self) -> AdaptiveLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


def _grant(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


_registry: dict[tuple[str, str, str], AdaptiveLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(provider: str, base_url: str, model: str, ceiling: int) -> AdaptiveLimiter:
    """The process-wide limiter for this provider, endpoint and model (the first ceiling wins)."""
    key = (provider, base_url.rstrip("/"), model)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = AdaptiveLimiter(ceiling)
        return limiter


def reset_shared_limiters() -> None:
    """Forget every shared limiter (tests)."""
    with _registry_lock:
        _registry.clear()
