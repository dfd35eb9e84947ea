"""The engine: packing, retries, adaptive concurrency and the run loop (see runner.py)."""

from __future__ import annotations

from excel_glm.engine.retry import RetryPolicy
from excel_glm.engine.runner import Engine, build_engine

__all__ = ["Engine", "RetryPolicy", "build_engine"]
