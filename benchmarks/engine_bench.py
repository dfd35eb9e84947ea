"""Engine benchmark against the fake GLM server; prints one JSON object.

    python benchmarks/engine_bench.py [--cells 10000] [--distinct 2000] [--naive-sample 60]

A translate job of `--cells` cells drawn from `--distinct` multilingual review texts, against the
fake server (tests/fake_glm.py) limited to 5 concurrent requests with a latency of
100 ms + 2 ms per output token, and the engine at concurrency 5. Beside it:

- the limit the server sets: C slots, each distinct cell's answer costing 2 ms of a slot per
  output token of its bare answer, so limit cells/s = cells / (sum of 2 ms x bare tokens / C);
- the naive way: one request per cell, one at a time, the instruction repeated in each. It runs
  on a sample of `--naive-sample` cells and its rate is extrapolated (said so in the output);
- the same job with 20% of requests faulted (a mix of every recoverable fault class), checking
  that no cell is lost or misplaced;
- an all-cached rerun of the whole job.

Not a timed test: run it by hand; it takes about three minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from excel_glm.config import Settings  # noqa: E402
from excel_glm.engine import Engine  # noqa: E402
from excel_glm.tasks import make_task  # noqa: E402
from tests.fake_glm import FakeGlmServer, count_tokens, default_oracle  # noqa: E402

CONCURRENCY = 5
BASE_MS, PER_TOKEN_MS = 100.0, 2.0
FAULT_KINDS = (
    "1302",
    "1305",
    "1234",
    "503_html",
    "drop",
    "network_error",
    "truncated",
    "non_json",
    "missing_id",
    "extra_id",
    "duplicate_id",
    "length",
)
# Backoff scaled down 20x so the faulted run takes seconds, not minutes; the logic is the same.
BENCH_RETRY_DELAY_SCALE = 0.05

OPENINGS = [
    "El producto llegó a tiempo y",
    "La livraison a pris trois semaines et",
    "Das Gerät funktioniert gut, aber",
    "O atendimento foi excelente e",
    "Il prodotto è arrivato rotto e",
    "La calidad del material es buena, aunque",
    "Je suis très déçu parce que",
    "Nach zwei Wochen Nutzung",
    "Comprei para minha mãe e",
    "Ottimo rapporto qualità prezzo,",
]
MIDDLES = [
    "la batería dura mucho menos de lo prometido",
    "l'emballage était abîmé mais le contenu intact",
    "die Bedienungsanleitung ist schwer zu verstehen",
    "ela adorou a cor e o tamanho",
    "il servizio clienti non ha mai risposto alle mie email",
    "el envío fue gratis y muy rápido",
    "le son est clair même à volume élevé",
    "der Akku hält ungefähr zwei Tage",
    "o preço estava abaixo da média do mercado",
    "la cerniera si è rotta dopo una settimana",
]
ENDINGS = [
    "Lo recomendaría a mis amigos.",
    "Je ne le rachèterai pas.",
    "Insgesamt bin ich zufrieden.",
    "Voltarei a comprar com certeza.",
    "Sconsigliato.",
    "Cinco estrellas.",
    "Rapport qualité-prix correct.",
    "Leider zu teuer für das Gebotene.",
    "Chegou antes do prazo.",
    "Spedizione veloce.",
]


def make_texts(distinct: int, seed: int = 7) -> list[str]:
    """`distinct` different review texts of one to three sentences."""
    rng = random.Random(seed)
    texts: set[str] = set()
    while len(texts) < distinct:
        parts = [f"{rng.choice(OPENINGS)} {rng.choice(MIDDLES)}."]
        for _ in range(rng.randint(0, 2)):
            parts.append(f"{rng.choice(MIDDLES).capitalize()}.")
        parts.append(f"{rng.choice(ENDINGS)} (#{rng.randint(100, 99999)})")
        texts.add(" ".join(parts))
    return sorted(texts)


def make_cells(texts: list[str], cells: int, seed: int = 11) -> list[str]:
    """`cells` values drawn so that every distinct text appears, in shuffled order."""
    rng = random.Random(seed)
    values = [texts[n % len(texts)] for n in range(cells)]
    rng.shuffle(values)
    return values


async def run_engine(settings: Settings, values: list[str]):
    engine = Engine(settings)
    task = make_task("translate", {"to": "English"})
    start = time.perf_counter()
    result = await engine.run(task, values)
    elapsed = time.perf_counter() - start
    await engine.aclose()
    return result, elapsed


async def run_naive(fake: FakeGlmServer, values: list[str]) -> dict[str, float]:
    """One request per cell, sequential, the instruction repeated, no packing, no dedup."""
    import httpx

    instruction = make_task("translate", {"to": "English"}).instruction()
    prompt = completion = 0
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(timeout=60) as client:
        start = time.perf_counter()
        for text in values:
            body = {
                "model": "glm-5",
                "messages": [
                    {"role": "system", "content": instruction},
                    {"role": "user", "content": text},
                ],
                "thinking": {"type": "disabled"},
                "do_sample": False,
            }
            response = await client.post(
                f"{fake.base_url}/chat/completions", json=body, headers=headers
            )
            usage = response.json()["usage"]
            prompt += usage["prompt_tokens"]
            completion += usage["completion_tokens"]
        elapsed = time.perf_counter() - start
    n = len(values)
    return {
        "cells": n,
        "seconds": round(elapsed, 3),
        "cells_per_s": n / elapsed,
        "prompt_tokens_per_cell": prompt / n,
        "completion_tokens_per_cell": completion / n,
    }


def check(results, values: list[str]) -> dict[str, int]:
    """Cells without an answer, and cells whose answer belongs to another cell."""
    lost = sum(1 for r in results if r.value is None)
    params = {"task": "translate", "to": "English"}
    wrong = sum(
        1
        for r, v in zip(results, values, strict=True)
        if r.value is not None and r.value != default_oracle(params, v)
    )
    return {"lost": lost, "misplaced": wrong}


async def main(args: argparse.Namespace) -> dict:
    texts = make_texts(args.distinct)
    values = make_cells(texts, args.cells)
    params = {"task": "translate", "to": "English"}
    bare_tokens = [count_tokens(default_oracle(params, t)) for t in texts]
    limit_seconds = sum(PER_TOKEN_MS * b for b in bare_tokens) / 1000 / CONCURRENCY
    limit_cps = args.cells / limit_seconds
    out: dict = {
        "job": {"cells": args.cells, "distinct": args.distinct, "concurrency": CONCURRENCY}
    }
    out["job"]["latency"] = f"{BASE_MS:.0f} ms + {PER_TOKEN_MS:.0f} ms per output token"
    out["job"]["bare_answer_tokens_per_distinct"] = round(sum(bare_tokens) / len(texts), 2)
    out["limit"] = {"seconds": round(limit_seconds, 3), "cells_per_s": round(limit_cps, 1)}

    with tempfile.TemporaryDirectory() as tmp, FakeGlmServer() as fake:
        fake.concurrency_limit = CONCURRENCY
        fake.set_latency(BASE_MS, PER_TOKEN_MS)
        settings = Settings(
            provider="glm",
            api_key=fake.api_key,
            base_url=fake.base_url,
            concurrency=CONCURRENCY,
            cache_path=Path(tmp) / "bench.sqlite3",
        )
        out["engine"] = {}
        for pack_items in args.pack_max_items:
            fake.reset()
            fake.concurrency_limit = CONCURRENCY
            fake.set_latency(BASE_MS, PER_TOKEN_MS)
            settings = settings.model_copy(
                update={
                    "pack_max_items": pack_items,
                    "cache_path": Path(tmp) / f"bench-{pack_items}.sqlite3",
                }
            )
            result, elapsed = await run_engine(settings, values)
            usage = result.usage
            engine_cps = args.cells / elapsed
            out["engine"][f"pack_max_items={pack_items}"] = {
                "seconds": round(elapsed, 3),
                "cells_per_s": round(engine_cps, 1),
                "ratio_to_limit": round(engine_cps / limit_cps, 3),
                "requests": usage.requests,
                "rejected_1302": sum(1 for r in fake.requests if r.status == 429),
                "prompt_tokens_per_cell": round(usage.prompt_tokens / args.cells, 2),
                "completion_tokens_per_cell": round(usage.completion_tokens / args.cells, 2),
                "cached_tokens_per_cell": round(usage.cached_tokens / args.cells, 2),
                "completion_tokens_per_distinct": round(usage.completion_tokens / args.distinct, 2),
                "cost_usd": round(usage.cost, 4),
                **check(result.results, values),
            }

        start = time.perf_counter()
        rerun, _ = await run_engine(settings, values)
        out["all_cached_rerun"] = {
            "seconds": round(time.perf_counter() - start, 3),
            "requests": rerun.usage.requests,
            **check(rerun.results, values),
        }

        fake.reset()
        fake.concurrency_limit = CONCURRENCY
        fake.set_latency(BASE_MS, PER_TOKEN_MS)
        naive = await run_naive(fake, values[: args.naive_sample])
        naive["extrapolated"] = f"measured on the first {args.naive_sample} cells"
        out["naive"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in naive.items()}

        fake.reset()
        fake.concurrency_limit = CONCURRENCY
        fake.set_latency(BASE_MS, PER_TOKEN_MS)
        for seed, kind in enumerate(FAULT_KINDS):
            fake.inject(kind, times=None, probability=0.2 / len(FAULT_KINDS), seed=seed)
        faulted_settings = settings.model_copy(
            update={
                "cache_path": Path(tmp) / "faulted.sqlite3",
                "pack_max_items": 10,
                "retry_delay_scale": BENCH_RETRY_DELAY_SCALE,
            }
        )
        faulted, faulted_elapsed = await run_engine(faulted_settings, values)
        requests = fake.requests
        injected = sum(1 for r in requests if r.fault)
        out["faulted_20pct"] = {
            "seconds": round(faulted_elapsed, 3),
            "requests": len(requests),
            "faulted_requests": injected,
            "fault_share": round(injected / max(1, len(requests)), 3),
            "retry_policy": "backoff scaled down 20x (base 0.05 s, overload 0.2 s, cap 3 s)",
            **check(faulted.results, values),
        }

    bare_avg = sum(bare_tokens) / len(texts)
    out["targets"] = {}
    for name, engine in out["engine"].items():
        out["targets"][name] = {
            "ratio_to_limit>=0.85": engine["ratio_to_limit"],
            "speedup_vs_naive>=50": round(engine["cells_per_s"] / naive["cells_per_s"], 1),
            "input_tokens_per_cell_vs_naive<=0.30": round(
                engine["prompt_tokens_per_cell"] / naive["prompt_tokens_per_cell"], 3
            ),
            "output_tokens_per_distinct_vs_bare<1.15": round(
                engine["completion_tokens_per_distinct"] / bare_avg, 3
            ),
        }
    out["targets"]["faulted_lost_or_misplaced==0"] = (
        out["faulted_20pct"]["lost"] + out["faulted_20pct"]["misplaced"]
    )
    out["targets"]["all_cached_rerun_seconds<1"] = out["all_cached_rerun"]["seconds"]
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--distinct", type=int, default=2_000)
    parser.add_argument("--naive-sample", type=int, default=60)
    parser.add_argument(
        "--pack-max-items",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[10, 20],
        help="comma-separated pack sizes to run the engine job with (default 10,20)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), indent=2, ensure_ascii=False))
