"""Reading a pack's answer back: the model's text -> {item position: raw answer}.

We ask for `{"1": <answer>, ...}`. Models and OpenAI-compatible servers wrap that in many ways:
code fences, prose before or after, `<think>` blocks, `{"results": [...]}` under any key, lists
of `{"id": 1, "answer": ...}` entries, ids as numbers or "01". Every shape that still names each
answer by its id is accepted; anything else is absent, and the engine re-sends those cells.
Answers are never matched by position, so a dropped or repeated answer cannot shift the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from excel_glm.cells import repair_surrogates

# Keys that hold the answer inside an `{"id": ..., <key>: ...}` entry, most specific first;
# "text" comes last because a model echoing the request also writes it.
_ANSWER_KEYS = (
    "answer",
    "result",
    "output",
    "value",
    "translation",
    "label",
    "labels",
    "classification",
    "fields",
    "extracted",
    "text",
)
_ID_KEYS = ("id", "item_id", "itemid", "item")
_ID = re.compile(r"^(?:#|id|item)?[\s_:#-]*(\d{1,9})$", re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z]*\s*(.*?)```", re.DOTALL)
_MAX_SCANS = 2_000  # '{'/'[' positions tried in prose, so a huge garbled answer stays cheap
_MAX_DEPTH = 2  # wrappers like {"results": {...}} unwrapped at most this deep


class _Object(dict):
    """A JSON object that remembers the keys it saw twice with different values."""

    duplicates: frozenset[str] = frozenset()


def _object(pairs: list[tuple[str, object]]) -> _Object:
    obj = _Object()
    duplicates = set()
    for key, value in pairs:
        if key in obj and obj[key] != value:
            duplicates.add(key)
        obj[key] = value
    obj.duplicates = frozenset(duplicates)
    return obj


def read_pack_answer(content: str, count: int) -> dict[int, object]:
    """Map item positions (0-based) to the raw answers found for ids "1".."count".

    Absent: unusable content, ids never asked for, ids given twice with different answers
    (which copy is right cannot be told) and every id of an answer numbered from "0" (its ids
    may all be off by one). A lone cell takes a lone answer under any id.
    """
    for document in _documents(content):
        found = _answers_by_id(document, count, depth=0)
        if found is not None:
            return {position: _clean(value) for position, value in found.items()}
    return {}


def _documents(content: str) -> Iterator[object]:
    """Every JSON value the content may hold, most likely first: all of it, a fenced block,
    then a value starting at each '{' or '[' (prose before, and after, is skipped)."""
    text = _strip_thinking(content)
    decoder = json.JSONDecoder(object_pairs_hook=_object)
    # The content as sent comes first: an answer may itself hold "<think>" (a translated tag).
    candidates = [content.strip(), text.strip(), *(b.strip() for b in _FENCE.findall(text))]
    for candidate in candidates:
        found = _decode(decoder, candidate, 0, whole=True)
        if found is not _NOTHING:
            yield found
    for scans, match in enumerate(re.finditer(r"[{\[]", text)):
        if scans >= _MAX_SCANS:
            return
        found = _decode(decoder, text, match.start(), whole=False)
        if found is not _NOTHING:
            yield found


_NOTHING = object()


def _decode(decoder: json.JSONDecoder, text: str, start: int, *, whole: bool) -> object:
    try:
        value, end = decoder.raw_decode(text, start)
    except ValueError:
        return _NOTHING
    return value if not whole or end == len(text) else _NOTHING


def _strip_thinking(content: str) -> str:
    """The content without reasoning: `<think>` blocks, or all before a lone `</think>`
    (servers whose chat template opens the block in the prompt)."""
    text = _THINK.sub("", content)
    closing = text.lower().rfind("</think>")
    if closing >= 0:
        text = text[closing + len("</think>") :]
    opening = text.lower().find("<think>")
    if opening >= 0:  # never closed: the model ran out of room while thinking
        text = text[:opening]
    return text


def _answers_by_id(document: object, count: int, *, depth: int) -> dict[int, object] | None:
    """Answers by position when `document` has a shape that names ids, else None."""
    if isinstance(document, list):
        return _from_entries(document, count)
    if not isinstance(document, dict):
        if count == 1 and isinstance(document, str) and depth == 0:
            return {0: document}  # a lone cell answered with a bare JSON string
        return None
    if any(_normal_id(key) is not None for key in document):
        return _from_mapping(document, count)
    if depth < _MAX_DEPTH:
        containers = [value for value in document.values() if isinstance(value, list | dict)]
        if len(containers) == 1:
            return _answers_by_id(containers[0], count, depth=depth + 1)
    return None


def _from_mapping(document: dict, count: int) -> dict[int, object]:
    pairs = [(_normal_id(key), value) for key, value in document.items()]
    untrusted = {_normal_id(key) for key in getattr(document, "duplicates", ())}
    return _by_position([(key, value) for key, value in pairs if key is not None], untrusted, count)


def _from_entries(entries: list, count: int) -> dict[int, object] | None:
    pairs = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        id_key = next((key for key in entry if str(key).casefold() in _ID_KEYS), None)
        item_id = _normal_id(entry[id_key]) if id_key is not None else None
        if item_id is not None:
            pairs.append((item_id, _entry_answer(entry, id_key)))
    if not pairs:
        return None
    return _by_position(pairs, set(), count)


def _entry_answer(entry: dict, id_key: str) -> object:
    rest = {key: value for key, value in entry.items() if key != id_key}
    folded = {str(key).casefold(): value for key, value in rest.items()}
    for name in _ANSWER_KEYS:
        if name in folded:
            return folded[name]
    if len(rest) == 1:
        return next(iter(rest.values()))
    return dict(rest)  # an extract answer written inline: {"id": 1, "name": ..., "email": ...}


def _by_position(
    pairs: list[tuple[str, object]], untrusted: set[str | None], count: int
) -> dict[int, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen and seen[key] != value:
            untrusted.add(key)
        seen[key] = value
    if count == 1 and len(seen) == 1 and not untrusted:
        return {0: next(iter(seen.values()))}  # one cell, one answer: whatever id it wears
    if "0" in seen:
        return {}
    return {
        int(key) - 1: value
        for key, value in seen.items()
        if key not in untrusted and 1 <= int(key) <= count
    }


def _normal_id(key: object) -> str | None:
    """ "1", 1, "01", "#1", "id_1" -> "1"; None for anything that is not an id."""
    if isinstance(key, bool):
        return None
    if isinstance(key, float) and key.is_integer():
        key = int(key)
    match = _ID.match(str(key).strip())
    return str(int(match.group(1))) if match else None


def _clean(value: object) -> object:
    """A plain copy of a JSON value whose strings are valid Unicode (SQLite and XML need it)."""
    if isinstance(value, str):
        return repair_surrogates(value)
    if isinstance(value, dict):
        return {repair_surrogates(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value
