"""Service benchmark: cached cells through POST /v1/cells against a real uvicorn on loopback.

    python benchmarks/service_bench.py [--cells 10000] [--calls 1000] [--repeats 5] [--https]

Prints JSON. The service runs in this process on a background thread (the client shares the
process, so the figures are conservative) over plain HTTP (what the xlwings UDFs use) or, with
--https, over TLS with the local CA (what the add-in uses), backed by the fake GLM server from
tests/fake_glm.py. The cache is warmed first, so every measured cell is a cache hit: what a
recalculation storm costs. Targets: 10,000 cached cells < 0.5 s; one cached cell p50 < 5 ms.
Everything lives in a temporary directory: nothing of the user's is read.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _isolate(home: Path) -> None:
    """Point every user directory and key variable at `home` (no real token, cache or key)."""
    os.environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        EXCEL_GLM_CONFIG=str(home / "none.toml"),
    )
    for name in ("EXCEL_GLM_API_KEY", "ZAI_API_KEY", "ZHIPUAI_API_KEY", "EXCEL_GLM_TOKEN"):
        os.environ.pop(name, None)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(cells: int, calls: int, repeats: int, https: bool = False) -> dict[str, object]:
    """Warm the cache, then time the big cached call and many one-cell cached calls."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_glm import FakeGlmServer

    from excel_glm.config import Settings
    from excel_glm.server.run import ServiceThread

    column = [[f"review number {i}: the product works well"] for i in range(cells)]
    big = {"task": "translate", "values": column, "params": {"to": "English"}}
    one = {
        "task": "translate",
        "values": [["review number 7: the product works well"]],
        "params": {"to": "English"},
    }

    with tempfile.TemporaryDirectory() as tmp, FakeGlmServer() as fake:
        _isolate(Path(tmp))
        settings = Settings(
            provider="glm",
            api_key=fake.api_key,
            base_url=fake.base_url,
            cache_path=Path(tmp) / "cache.sqlite3",
        )
        with ServiceThread(settings, use_https=https) as service:
            headers = {"Authorization": f"Bearer {service.token}"}
            verify = ssl.create_default_context(cafile=str(service.ca_cert)) if https else True
            base = f"{'https' if https else 'http'}://localhost:{service.port}"
            with httpx.Client(base_url=base, headers=headers, timeout=300, verify=verify) as client:
                started = time.perf_counter()
                warm = client.post("/v1/cells", json=big)
                warm.raise_for_status()
                warm_s = time.perf_counter() - started
                fake_requests = len(fake.requests)

                big_times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    response = client.post("/v1/cells", json=big)
                    big_times.append(time.perf_counter() - started)
                    response.raise_for_status()
                    assert response.json()["usage"]["cache_hits"] == cells

                client.post("/v1/cells", json=one).raise_for_status()
                one_times = []
                for _ in range(calls):
                    started = time.perf_counter()
                    client.post("/v1/cells", json=one).raise_for_status()
                    one_times.append((time.perf_counter() - started) * 1000)
            assert len(fake.requests) == fake_requests, "a cached call reached the model"

    big_median = statistics.median(big_times)
    p50 = _percentile(one_times, 0.50)
    return {
        "transport": f"{'HTTPS (local CA)' if https else 'plain HTTP'} on loopback, keep-alive, "
        "uvicorn in a thread of the benchmark's process",
        "cells": cells,
        "warm_up_s": round(warm_s, 3),
        "warm_up_model_requests": fake_requests,
        "cached_cells_call_s": {
            "median": round(big_median, 4),
            "min": round(min(big_times), 4),
            "max": round(max(big_times), 4),
            "repeats": repeats,
        },
        "cached_cells_per_s": round(cells / big_median),
        "one_cell_call_ms": {
            "p50": round(p50, 3),
            "p99": round(_percentile(one_times, 0.99), 3),
            "mean": round(statistics.fmean(one_times), 3),
            "calls": calls,
        },
        "targets": {
            "cached_cells_call_under_0_5_s": big_median < 0.5,
            "one_cell_p50_under_5_ms": p50 < 5.0,
        },
    }


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--https", action="store_true", help="TLS with the local CA")
    args = parser.parse_args()
    print(json.dumps(run(args.cells, args.calls, args.repeats, args.https), indent=2))


if __name__ == "__main__":
    main()
