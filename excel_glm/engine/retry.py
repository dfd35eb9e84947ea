"""Retry policy as data plus pure functions: how to classify a failure and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum


class Failure(Enum):
    """What a provider failure means for the run."""

    RETRY = "retry"  # may succeed later: 5xx, network, 1200/1230/1234, 408, unknown 429
    OVERLOAD = "overload"  # too much traffic (1302/1303/1305/1312/1313): retry and slow down
    CELL = "cell"  # content filter (1301): fails the cells concerned only
    AUTH = "auth"  # 1000-1005, 401: stop the run
    BALANCE = "balance"  # 1113: stop the run
    QUOTA = "quota"  # 1304, 1308-1321 caps and plans: stop the run
    FATAL = "fatal"  # bad parameters, unknown model, prompt too long, other 4xx: stop the run
    GIVE_UP = "give_up"  # the server said not to retry (x-should-retry: false): fail these cells


_RETRY_CODES = {"1200", "1230", "1231", "1234", "500", "503"}
_OVERLOAD_CODES = {"1302", "1303", "1305", "1312", "1313", "rate_limit_exceeded"}
_BALANCE_CODES = {"1113", "insufficient_quota"}
_AUTH_CODES = {"1000", "1001", "1002", "1003", "1004", "1005", "401", "invalid_api_key"}
_CELL_CODES = {"1301", "content_filter"}  # GLM's content filter; OpenAI's and Azure's
_QUOTA_CODES = {"1304", *(str(c) for c in range(1308, 1312)), *(str(c) for c in range(1314, 1322))}


def classify_failure(status: int | None, code: str | None) -> Failure:
    """Classify by the body's business code first and the HTTP status second (glm_api.md §3.4)."""
    code = str(code).strip() if code is not None else None
    if code:
        if code in _OVERLOAD_CODES:
            return Failure.OVERLOAD
        if code in _RETRY_CODES:
            return Failure.RETRY
        if code in _CELL_CODES:
            return Failure.CELL
        if code in _AUTH_CODES:
            return Failure.AUTH
        if code in _BALANCE_CODES:
            return Failure.BALANCE
        if code in _QUOTA_CODES:
            return Failure.QUOTA
        if code == "1120":
            return Failure.RETRY
        if code.isdigit() and 1100 <= int(code) <= 1299:
            return Failure.FATAL
    if status is None or 200 <= status < 300 or status in (408, 409) or status >= 500:
        # A 2xx carrying an error envelope without a known code is a hiccup, not a verdict.
        return Failure.RETRY
    if status == 429:
        return Failure.OVERLOAD
    if status in (401, 403) and not code:
        return Failure.AUTH
    return Failure.FATAL


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. Delays use exponential backoff with full jitter;
    an overloaded model (1305 and kin) waits from a longer base."""

    max_attempts: int = 8  # attempts for a request failing with errors other than overload
    max_overload_attempts: int = 24  # overload answers (1302...) wait their turn, they don't fail
    base_delay: float = 1.0
    overload_base_delay: float = 4.0
    max_delay: float = 60.0
    max_retry_after: float = 120.0  # a server's Retry-After is obeyed up to this
    single_cell_attempts: int = 4  # invalid answers tolerated for a cell sent alone
    length_growth: float = 2.0  # max_tokens scale per 'length' retry of a single cell
    length_retries: int = 2

    def delay(
        self,
        attempt: int,
        *,
        overload: bool = False,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        base = self.overload_base_delay if overload else self.base_delay
        ceiling = min(self.max_delay, base * 2 ** (attempt - 1))
        return (rng or random).uniform(0, ceiling)


def policy_for(max_attempts: int, delay_scale: float = 1.0) -> RetryPolicy:
    """The default policy with the settings' attempt budget and its waits scaled by
    `delay_scale` (below 1 only for tests and benchmarks against a local fake server)."""
    base = RetryPolicy()
    return RetryPolicy(
        max_attempts=max_attempts,
        base_delay=base.base_delay * delay_scale,
        overload_base_delay=base.overload_base_delay * delay_scale,
        max_delay=base.max_delay * delay_scale,
    )
