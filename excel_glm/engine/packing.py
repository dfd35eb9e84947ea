"""Packing: many cells into few requests, and reading a pack's answer back by id.

Pure functions, no I/O: `pack_cells` groups work by expected output tokens and item count,
`pack_request` builds the chat request; `read_pack_answer` (engine/answers.py) maps ids back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from excel_glm.cells import estimate_tokens
from excel_glm.engine.answers import read_pack_answer
from excel_glm.providers.base import ChatRequest

__all__ = [
    "ID_OVERHEAD_TOKENS",
    "WorkItem",
    "pack_cells",
    "pack_max_tokens",
    "pack_request",
    "read_pack_answer",
    "split_pack",
]

# Room per item for the id and JSON punctuation around an answer: `"12":"...",`.
ID_OVERHEAD_TOKENS = 3
MAX_TOKENS_CAP = 65_536
# Cell text per pack: far inside GLM-5's 200K context (so 1261 "prompt too long" cannot stop a
# run of legal cells) and under the 32K-token input tier of GLM's Chinese price list.
MAX_INPUT_TOKENS = 24_000


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One distinct cell text to answer: its cache key, text and expected answer size."""

    key: str
    text: str
    expected_tokens: int


def pack_cells(
    items: Sequence[WorkItem],
    *,
    max_items: int,
    max_output_tokens: int,
    max_input_tokens: int = MAX_INPUT_TOKENS,
) -> list[list[WorkItem]]:
    """Split items, in order, into packs of at most `max_items` whose expected output fits
    `max_output_tokens` and whose cell text fits `max_input_tokens` (an item bigger than a
    budget travels alone)."""
    packs: list[list[WorkItem]] = []
    current: list[WorkItem] = []
    output = text = 0
    for item in items:
        cost = item.expected_tokens + ID_OVERHEAD_TOKENS
        size = estimate_tokens(item.text)
        if current and (
            len(current) >= max_items
            or output + cost > max_output_tokens
            or text + size > max_input_tokens
        ):
            packs.append(current)
            current, output, text = [], 0, 0
        current.append(item)
        output += cost
        text += size
    if current:
        packs.append(current)
    return packs


def split_pack(items: Sequence[WorkItem]) -> list[list[WorkItem]]:
    """Halve a pack (for re-sending what a bigger pack failed to answer)."""
    middle = math.ceil(len(items) / 2)
    return [list(part) for part in (items[:middle], items[middle:]) if part]


def pack_max_tokens(items: Sequence[WorkItem], *, scale: float = 1.0) -> int:
    """`max_tokens` for a pack: its expected answer with headroom, times `scale` on retries."""
    expected = sum(item.expected_tokens + ID_OVERHEAD_TOKENS for item in items)
    return min(MAX_TOKENS_CAP, math.ceil((expected * 1.25 + 16) * scale))


def pack_request(instruction: str, items: Sequence[WorkItem], *, scale: float = 1.0) -> ChatRequest:
    """The chat request for a pack: ids "1".."n" in the order of `items`."""
    payload = {"items": [{"id": str(n), "text": item.text} for n, item in enumerate(items, 1)]}
    user = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return ChatRequest(
        messages=[{"role": "system", "content": instruction}, {"role": "user", "content": user}],
        max_tokens=pack_max_tokens(items, scale=scale),
        json_mode=True,
        key=items[0].key[:16] if items else "",
    )
