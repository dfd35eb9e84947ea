"""The fake GLM server's model: its tokenizer, its oracle and its reading of the pack protocol.

See tests/fake_glm.py for the oracle's rules; tests replace it through `FakeGlmServer.oracle`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

PARAMS_MARKER = "Task parameters (JSON): "

Oracle = Callable[[dict[str, Any], str], Any]


def count_tokens(text: str) -> int:
    """The fake's tokenizer: a quarter token per ASCII character, one per other character."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 4 + (len(text) - ascii_chars))


def default_oracle(params: dict[str, Any], text: str) -> Any:
    """The deterministic model described in tests/fake_glm.py."""
    task = params.get("task")
    if task == "translate":
        return f"[{params.get('to')}] {text}"
    if task == "classify":
        labels = [str(label) for label in params.get("labels", [])]
        found = [label for label in labels if label.lower() in text.lower()]
        if params.get("multi_label"):
            return found
        return found[0] if found else (labels[0] if labels else "")
    if task == "extract":
        return {name: _extract_field(name, text) for name in params.get("fields", [])}
    if task == "ask":
        return f"[{params.get('prompt') or 'answer'}] {text}"
    return f"[fake] {text}"


def _extract_field(name: str, text: str) -> str:
    lowered = name.lower()
    if "mail" in lowered:
        match = re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text)
    elif any(word in lowered for word in ("number", "phone", "amount", "price", "age", "count")):
        match = re.search(r"\d+(?:[.,]\d+)*", text)
    else:
        match = re.search(r"\b[A-Z][\w'-]*", text)
    return match.group(0) if match else ""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def cut_to_tokens(text: str, tokens: int) -> str:
    used = 0.0
    for index, ch in enumerate(text):
        used += 0.25 if ord(ch) < 128 else 1
        if math.ceil(used) > tokens:
            return text[:index]
    return text


def params_of(system: str) -> dict[str, Any]:
    index = system.rfind(PARAMS_MARKER)
    if index < 0:
        return {}
    line = system[index + len(PARAMS_MARKER) :].split("\n", 1)[0]
    try:
        params = json.loads(line)
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def items_of(body: Any) -> list[dict] | None:
    """The items of a packed request, or None when the last user message is not a pack."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages") or []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return None
    try:
        data = json.loads(str(users[-1].get("content", "")))
    except ValueError:
        return None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, dict)]
