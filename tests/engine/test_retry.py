"""Failure classification (body code first, HTTP status second) and backoff."""

from __future__ import annotations

import random

import pytest

from excel_glm.engine.retry import Failure, RetryPolicy, classify_failure


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "1302", Failure.OVERLOAD),
        (429, "1305", Failure.OVERLOAD),
        (429, "1113", Failure.BALANCE),  # a 429 that no retry can fix
        (401, "1000", Failure.AUTH),
        (401, None, Failure.AUTH),
        (400, "1210", Failure.FATAL),
        (400, "1211", Failure.FATAL),
        (400, "1261", Failure.FATAL),
        (400, "1301", Failure.CELL),
        (429, "1304", Failure.QUOTA),
        (429, "1308", Failure.QUOTA),
        (500, "1234", Failure.RETRY),
        (400, "1234", Failure.RETRY),  # the code wins over the status
        (503, None, Failure.RETRY),
        (408, None, Failure.RETRY),
        (429, None, Failure.OVERLOAD),
        (None, None, Failure.RETRY),
        (404, None, Failure.FATAL),
    ],
)
def test_classification(status, code, expected):
    assert classify_failure(status, code) is expected


def test_backoff_is_full_jitter_under_an_exponential_ceiling():
    policy = RetryPolicy(base_delay=1.0, overload_base_delay=4.0, max_delay=60.0)
    rng = random.Random(1)
    delays = [policy.delay(3, rng=rng) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays) and max(delays) > 3.0
    overloaded = [policy.delay(3, overload=True, rng=rng) for _ in range(200)]
    assert max(overloaded) > 4.0 and all(d <= 16.0 for d in overloaded)
    assert all(policy.delay(20, rng=rng) <= 60.0 for _ in range(50))


def test_retry_after_is_honoured_up_to_the_cap():
    policy = RetryPolicy(max_delay=1.0, max_retry_after=30.0)
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=999) == 30.0
