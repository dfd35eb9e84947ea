"""Per-model prices in USD per million tokens (Z.ai's international table, glm_api.md §6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input, cached input and output tokens."""

    input: float
    cached: float
    output: float


PRICES: dict[str, Price] = {
    "glm-5": Price(1.0, 0.2, 3.2),
    "glm-5-turbo": Price(1.2, 0.24, 4.0),
    "glm-5.1": Price(1.4, 0.26, 4.4),
    "glm-5.2": Price(1.4, 0.26, 4.4),
    "glm-5.3": Price(1.4, 0.26, 4.4),
    "glm-4.7": Price(0.6, 0.11, 2.2),
    "glm-4.6": Price(0.6, 0.11, 2.2),
    "glm-4.5-air": Price(0.2, 0.03, 1.1),
    "glm-4.7-flash": Price(0.0, 0.0, 0.0),
    "glm-4.5-flash": Price(0.0, 0.0, 0.0),
    "glm-4-flash-250414": Price(0.0, 0.0, 0.0),
    "glm-4-flash": Price(0.0, 0.0, 0.0),
    "glm-4.7-flashx": Price(0.07, 0.01, 0.4),
}


def price_for(model: str) -> Price | None:
    """The model's price, or None when the table does not know it (its cost then shows as 0)."""
    return PRICES.get(model.strip().lower())


def cost_usd(model: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
    """Cost of a call in USD; 0 for a model the table does not know."""
    price = price_for(model)
    if price is None:
        return 0.0
    fresh = max(0, prompt_tokens - cached_tokens)
    total = fresh * price.input + cached_tokens * price.cached + completion_tokens * price.output
    return total / 1_000_000
