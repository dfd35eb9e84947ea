"""Measure the embedded model: load time, seconds per cell, accuracy on a tiny labelled set.

    python benchmarks/local_bench.py [--model PATH.gguf] [--threads N]

Prints one JSON object. The labelled set below is small and written for this benchmark; it tells
whether a change to the few-shot prompts helps or hurts, not how good the model is in general.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from excel_glm import fewshot
from excel_glm.config import load_settings
from excel_glm.tasks import make_task

TRANSLATIONS = [  # (text, a word the English translation should contain)
    ("Das Essen war kalt und der Kellner unfreundlich.", "cold"),
    ("La livraison était rapide, je suis très content.", "fast"),
    ("El producto llegó roto.", "broken"),
    ("Questo libro è fantastico.", "book"),
    ("Die Lieferung kam zu spät.", "late"),
    ("Merci beaucoup pour votre aide.", "thank"),
    ("O hotel era muito limpo.", "clean"),
    ("我喜欢这本书。", "book"),
]
SENTIMENT = [
    ("I love this product, it works perfectly!", "positive"),
    ("Terrible quality, broke after two days.", "negative"),
    ("The package arrived on Tuesday.", "neutral"),
    ("Absolutely fantastic service, thank you!", "positive"),
    ("Worst purchase I have ever made.", "negative"),
    ("It is a blue shirt, size medium.", "neutral"),
    ("Das Essen war kalt und der Kellner unfreundlich.", "negative"),
    ("Super Preis-Leistung, gerne wieder.", "positive"),
    ("La livraison a pris trois jours.", "neutral"),
    ("Not worth the money at all.", "negative"),
    ("Great battery life and a lovely screen.", "positive"),
    ("The manual is 20 pages long.", "neutral"),
]
EMAILS = [  # (text, the e-mail address in it or "")
    (
        "Please contact John Miller (john.miller@acme.com) about the invoice.",
        "john.miller@acme.com",
    ),
    ("Write to info@bakery-lopez.es for orders.", "info@bakery-lopez.es"),
    ("My address is k.tanaka@example.jp, thanks!", "k.tanaka@example.jp"),
    ("Call me on 555-0199, Maria Lopez.", ""),
    ("The weather is nice today.", ""),
    ("Reply to sales@northwind.co.uk or ring 020 7946 0000.", "sales@northwind.co.uk"),
    ("Invoice 2291 is overdue; contact billing@fastship.com.", "billing@fastship.com"),
    ("No email, just visit our shop in Lyon.", ""),
]


async def _answer(provider, task, text: str, timings: list[float]):
    raws = []
    for request in fewshot.completion_requests(task, text):
        started = time.perf_counter()
        raws.append((await provider.complete(request)).text)
        timings.append(time.perf_counter() - started)
    return fewshot.parse_completions(task, raws, text)


async def _bench(model: Path | None, threads: int | None) -> dict[str, object]:
    from excel_glm.providers.local import LocalProvider

    settings = load_settings(provider="local", local_model_path=model, local_threads=threads)
    provider = LocalProvider(settings)
    # The provider loads its weights on the first cell: time that cell apart, as the load.
    started = time.perf_counter()
    await provider.complete(fewshot.completion_request(make_task("ask", {"prompt": ""}), "Hi"))
    load_s = time.perf_counter() - started
    timings: list[float] = []

    translate = make_task("translate", {"to": "English"})
    answers = [await _answer(provider, translate, text, timings) for text, _ in TRANSLATIONS]
    translated = sum(word in a.lower() for a, (_, word) in zip(answers, TRANSLATIONS, strict=True))

    classify = make_task("classify", {"labels": "positive, negative, neutral"})
    labels = [await _answer(provider, classify, text, timings) for text, _ in SENTIMENT]
    correct = sum(got == want for got, (_, want) in zip(labels, SENTIMENT, strict=True))

    extract = make_task("extract", {"fields": "email"})
    found = [(await _answer(provider, extract, text, timings))["email"] for text, _ in EMAILS]
    exact = sum(got == want for got, (_, want) in zip(found, EMAILS, strict=True))

    return {
        "model": provider.model,
        "load_and_first_cell_s": round(load_s, 2),
        "requests": len(timings),
        "seconds_per_request_median": round(statistics.median(timings), 3),
        "seconds_per_request_max": round(max(timings), 3),
        "translate_keyword_hits": f"{translated}/{len(TRANSLATIONS)}",
        "sentiment_accuracy": round(correct / len(SENTIMENT), 2),
        "email_extraction_exact": round(exact / len(EMAILS), 2),
    }


def main() -> None:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default weights)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_bench(args.model, args.threads)), indent=2))


if __name__ == "__main__":
    main()
