"""Few-shot completion prompts for the embedded base model, and the parsing of its answers.

A 270M base model does not follow instructions; it continues patterns. Each task therefore gets a
fixed block of worked examples (byte-identical for every cell of a run, so llama.cpp reuses its
evaluated prefix) followed by the cell, and the answer is read back defensively: a class is always
one of the labels, an extraction always has exactly the requested fields.

Cell text is data: it is escaped onto one line (backslash and newline escapes), so it can never
start a new example line, and it is never cut; a cell too long for the context is the provider's
per-cell error.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from excel_glm.providers.base import ChatRequest
from excel_glm.results import CellValue

ONE_LINE = ("\n",)
# An extraction spans "field: value" lines and ends at the blank line before the next example.
EXAMPLE_END = ("\n\n", "\nText:")
EMPTY_VALUES = frozenset({"", "none", "n/a", "na", "null", "-", "unknown", "not given"})


def escape_cell(text: str) -> str:
    """One line of text: backslashes doubled, line breaks written as \\n."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def unescape_answer(text: str) -> str:
    """Undo escape_cell on a model's answer (a lone backslash stays as it is)."""
    return re.sub(r"\\([\\n])", lambda m: "\n" if m.group(1) == "n" else "\\", text)


def _line(text: str) -> str:
    """A parameter (language, label, field) on one line, without the colon that ends a line key."""
    return " ".join(str(text).replace(":", " ").split())


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold().strip(" .,;:!?\"'`*()[]")


# ---------------------------------------------------------------------------------------------
# translate

# The same four sentences in each language the examples can target.
_SENTENCES: dict[str, tuple[str, str, str, str]] = {
    "English": (
        "The cat is sleeping on the sofa.",
        "Where is the train station?",
        "I have no time today.",
        "The service in this restaurant is very good.",
    ),
    "French": (
        "Le chat dort sur le canapé.",
        "Où est la gare ?",
        "Je n'ai pas le temps aujourd'hui.",
        "Le service dans ce restaurant est très bon.",
    ),
    "German": (
        "Die Katze schläft auf dem Sofa.",
        "Wo ist der Bahnhof?",
        "Ich habe heute keine Zeit.",
        "Der Service in diesem Restaurant ist sehr gut.",
    ),
    "Spanish": (
        "El gato duerme en el sofá.",
        "¿Dónde está la estación de tren?",
        "Hoy no tengo tiempo.",
        "El servicio en este restaurante es muy bueno.",
    ),
    "Chinese": ("猫在沙发上睡觉。", "火车站在哪里？", "我今天没有时间。", "这家餐厅的服务很好。"),
    "Japanese": (
        "猫がソファで寝ています。",
        "駅はどこですか？",
        "今日は時間がありません。",
        "このレストランのサービスはとても良いです。",
    ),
}
_LANGUAGE_ALIASES: dict[str, str] = {
    **{alias: "English" for alias in ("english", "en", "englisch", "anglais", "inglés", "英语")},
    **{alias: "French" for alias in ("french", "fr", "français", "francais", "französisch")},
    **{alias: "German" for alias in ("german", "de", "deutsch", "allemand", "alemán")},
    **{alias: "Spanish" for alias in ("spanish", "es", "español", "espanol", "spanisch")},
    **{alias: "Chinese" for alias in ("chinese", "zh", "中文", "汉语", "mandarin")},
    **{alias: "Japanese" for alias in ("japanese", "ja", "日本語", "japanisch")},
}


def _translate_prefix(task: Any) -> tuple[str, str]:
    """The fixed examples for a translation task, and the answer key that ends each example."""
    target = _LANGUAGE_ALIASES.get(_normal(task.to), _line(task.to))
    source = f" from {_line(task.source)}" if getattr(task, "source", None) else ""
    header = f"Translate each text{source} into {target}."
    glossary = dict(getattr(task, "glossary", None) or {})
    if glossary:
        terms = "; ".join(
            f"{escape_cell(src)} = {escape_cell(dst)}" for src, dst in glossary.items()
        )
        header += f"\nAlways translate these terms this way: {terms}."
    examples = ""
    if target in _SENTENCES:
        # Each example comes from a different language, none from the target itself; the last one
        # spans two lines, so the model learns to carry the escaped line break into its answer.
        others = [language for language in _SENTENCES if language != target]
        answers = _SENTENCES[target]
        sources = [_SENTENCES[others[index]] for index in range(3)]
        pairs = [
            (sources[0][0], answers[0]),
            (sources[1][1], answers[1]),
            (f"{sources[2][2]}\n{sources[2][3]}", f"{answers[2]}\n{answers[3]}"),
        ]
        for source_text, answer in pairs:
            examples += f"Text: {escape_cell(source_text)}\n{target}: {escape_cell(answer)}\n\n"
    return f"{header}\n\n{examples}", target


# ---------------------------------------------------------------------------------------------
# classify

_SENTIMENT_LABELS = frozenset({"positive", "negative", "neutral", "mixed"})
_SENTIMENT_EXAMPLES = (
    ("The hotel staff were friendly and the room was spotless.", "positive"),
    ("My order never arrived and nobody answers the phone.", "negative"),
    ("The meeting is scheduled for Monday at 10 am.", "neutral"),
    ("Great screen, but the battery dies in two hours.", "mixed"),
)
# For any other label set the examples can only teach the format: pick one label from a list.
_FORMAT_EXAMPLES = (
    (("animal", "plant", "vehicle"), "The dog barked at the mailman.", "animal"),
    (("sport", "music", "food"), "We ordered pizza and pasta for dinner.", "food"),
    (("question", "complaint", "praise"), "Thank you so much, your team was brilliant.", "praise"),
)


def _classify_prefix(task: Any) -> str:
    labels = [_line(label) for label in task.labels]
    listed = ", ".join(labels)
    how = "all labels that apply, comma-separated" if task.multi_label else "exactly one label"
    header = f"Classify each text with {how} from: {listed}."
    if getattr(task, "instructions", None):
        header += f"\nGuidance: {escape_cell(task.instructions)}"
    examples = ""
    chosen = {_normal(label) for label in labels}
    if chosen <= _SENTIMENT_LABELS:
        for text, label in _SENTIMENT_EXAMPLES:
            if label in chosen:
                spelled = next(item for item in labels if _normal(item) == label)
                examples += f"Labels: {listed}\nText: {text}\nLabel: {spelled}\n\n"
    else:
        for example_labels, text, label in _FORMAT_EXAMPLES:
            examples += f"Labels: {', '.join(example_labels)}\nText: {text}\nLabel: {label}\n\n"
    return f"{header}\n\n{examples}Labels: {listed}\n"


def closest_label(raw: str, labels: Iterable[str]) -> str:
    """The label the answer means; never anything outside `labels`.

    Order of preference: exact match (ignoring case, spaces and surrounding punctuation), the
    longest label the answer starts with, the first label that the answer's first word (three
    letters or more) begins, the label mentioned earliest in the answer, and last the label most
    similar to the answer by difflib's character ratio (the first label on a tie, so an empty
    answer gives the first label).
    """
    options = list(labels)
    if not options:
        raise ValueError("closest_label needs at least one label")
    matched = _strict_label(raw, options)
    if matched is not None:
        return matched
    answer = _normal(raw)
    ratios = [difflib.SequenceMatcher(None, answer, _normal(label)).ratio() for label in options]
    return options[ratios.index(max(ratios))]


def _strict_label(raw: str, labels: list[str]) -> str | None:
    """A label the answer names outright (exact, prefix or mention), else None."""
    answer = _normal(raw)
    if not answer:
        return None
    normal = [_normal(label) for label in labels]
    for label, name in zip(labels, normal, strict=True):
        if answer == name:
            return label
    starts = [
        (len(name), label)
        for label, name in zip(labels, normal, strict=True)
        if name and answer.startswith(name)
    ]
    if starts:
        return max(starts, key=lambda item: item[0])[1]
    first_word = answer.split()[0]
    # A word of three letters or more is an abbreviation ("neg"); shorter ones are too ambiguous.
    for label, name in zip(labels, normal, strict=True):
        if len(first_word) >= 3 and name.startswith(first_word):
            return label
    mentions = [
        (match.start(), -len(name), label)
        for label, name in zip(labels, normal, strict=True)
        if name and (match := re.search(rf"(?<!\w){re.escape(name)}(?!\w)", answer))
    ]
    return min(mentions)[2] if mentions else None


def labels_in(raw: str, labels: Iterable[str]) -> str:
    """Multi-label answer: the labels the answer names, in the labels' order, joined by ", "."""
    options = list(labels)
    named = {_strict_label(part, options) for part in re.split(r"[,;/|]| and ", raw)}
    return ", ".join(label for label in options if label in named)


# ---------------------------------------------------------------------------------------------
# extract

# Known field kinds, so examples can show a value for the fields a user most often asks for.
_FIELD_KINDS: dict[str, str] = {
    **dict.fromkeys(("name", "full name", "person", "contact", "contact name", "customer"), "name"),
    **dict.fromkeys(("email", "e-mail", "mail", "email address", "e-mail address"), "email"),
    **dict.fromkeys(("phone", "telephone", "phone number", "tel", "mobile"), "phone"),
    **dict.fromkeys(("company", "organisation", "organization", "employer", "firm"), "company"),
    **dict.fromkeys(("city", "town", "location", "place"), "city"),
    **dict.fromkeys(("date", "order date", "delivery date", "shipping date"), "date"),
    **dict.fromkeys(("amount", "price", "total", "cost", "sum"), "amount"),
    **dict.fromkeys(("order", "order number", "order id", "order no", "order nr"), "order"),
}
_EXTRACT_EXAMPLES: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "Hi, I'm Anna Schmidt from Nordwind GmbH in Hamburg; reach me at anna.schmidt@nordwind.de "
        "or +49 40 1234567.",
        {
            "name": "Anna Schmidt",
            "email": "anna.schmidt@nordwind.de",
            "phone": "+49 40 1234567",
            "company": "Nordwind GmbH",
            "city": "Hamburg",
        },
    ),
    (
        "Order 4471 (total 89.90 EUR) was shipped to Lyon on 3 May 2024.",
        {"city": "Lyon", "date": "3 May 2024", "amount": "89.90 EUR", "order": "4471"},
    ),
    (
        "Questions? Write to support@brightdesk.io, the Brightdesk team.",
        {"email": "support@brightdesk.io", "company": "Brightdesk"},
    ),
)
_EXAMPLE_VALUES = frozenset(
    _normal(value) for _, facts in _EXTRACT_EXAMPLES for value in facts.values()
)


def _extract_prefix(task: Any) -> str:
    names = [_line(field) for field in task.fields]
    header = "Extract these fields from each text, copied as written; none when missing: "
    header += ", ".join(names) + "."
    examples = ""
    for text, facts in _EXTRACT_EXAMPLES:
        lines = "".join(
            f"{name}: {facts.get(_FIELD_KINDS.get(_normal(name), ''), 'none')}\n" for name in names
        )
        examples += f"Text: {text}\n{lines}\n"
    return f"{header}\n\n{examples}"


def fields_in(raw: str, fields: Iterable[str], text: str | None = None) -> dict[str, str]:
    """Exactly `fields`, read from "field: value" lines (the first line answers the first field).

    A value that is "none"-like becomes "". A value copied from the examples, or (when the cell
    `text` is given) one not found in the cell, is the small model inventing data and becomes "".
    """
    wanted = list(fields)
    keys = {_normal(_line(field)): field for field in wanted}
    found: dict[str, str] = {}
    for index, line in enumerate(raw.split("\n")):
        if index == 0:
            name, value = wanted[0], line
        elif ":" in line:
            key, value = line.split(":", 1)
            name = keys.get(_normal(key))
            if name is None:
                continue
        else:
            continue
        found.setdefault(name, value.strip())
    source = _normal(text) if text is not None else None
    return {field: _grounded(found.get(field, ""), source) for field in wanted}


def _grounded(value: str, source: str | None) -> str:
    normal = _normal(value)
    if normal in EMPTY_VALUES:
        return ""
    if source is not None:
        return value if normal in source else ""
    return "" if normal in _EXAMPLE_VALUES else value


# ---------------------------------------------------------------------------------------------
# ask

_ASK_EXAMPLES = (
    ("Give the capital of this country.", "France", "Paris"),
    ("Answer the question.", "How many days are in a week?", "7"),
    (
        "Summarise in three words.",
        "The delivery came late and the box was damaged.",
        "Late, damaged delivery",
    ),
)
_ASK_DEFAULT = "Answer the question."


def _ask_prefix(task: Any) -> str:
    examples = "".join(
        f"Instruction: {instruction}\nInput: {text}\nAnswer: {answer}\n\n"
        for instruction, text, answer in _ASK_EXAMPLES
    )
    instruction = escape_cell(task.prompt) if task.prompt else _ASK_DEFAULT
    return f"Answer briefly.\n\n{examples}Instruction: {instruction}\n"


# ---------------------------------------------------------------------------------------------
# the two entry points


def few_shot_prefix(task: Any) -> str:
    """The fixed part of every prompt of `task`: header and worked examples, before the cell."""
    if task.name == "translate":
        return _translate_prefix(task)[0]
    if task.name == "classify":
        return _classify_prefix(task)
    if task.name == "extract":
        return _extract_prefix(task)
    if task.name == "ask":
        return _ask_prefix(task)
    raise ValueError(f"no few-shot prompt for task {task.name!r}")


def completion_request(task: Any, text: str) -> ChatRequest:
    """The completion request that asks the embedded model for one cell's answer."""
    cell = escape_cell(text)
    prefix = few_shot_prefix(task)
    if task.name == "translate":
        target = _translate_prefix(task)[1]
        prompt, stop = f"{prefix}Text: {cell}\n{target}:", ONE_LINE
    elif task.name == "classify":
        prompt, stop = f"{prefix}Text: {cell}\nLabel:", ONE_LINE
    elif task.name == "extract":
        prompt, stop = f"{prefix}Text: {cell}\n{_line(task.fields[0])}:", EXAMPLE_END
    else:
        prompt, stop = f"{prefix}Input: {cell}\nAnswer:", ONE_LINE
    return ChatRequest(prompt=prompt, stop=stop, max_tokens=_answer_budget(task, text))


def _answer_budget(task: Any, text: str) -> int:
    """Room for the answer: the task's own estimate, doubled because this tokenizer differs."""
    estimate = getattr(task, "expected_output_tokens", None)
    expected = estimate(text) if estimate else len(text) + 16
    return max(16, 2 * expected + 8)


def parse_completion(task: Any, raw: str, text: str | None = None) -> CellValue:
    """The cell's answer from the raw completion; pass the cell `text` to ground extracts.

    With `text`, a translation with fewer lines than the cell raises LocalModelError (the model
    dropped lines) rather than returning part of the cell; completion_requests avoids that.
    """
    if task.name == "classify":
        line = raw.strip()
        return (
            labels_in(line, task.labels) if task.multi_label else closest_label(line, task.labels)
        )
    if task.name == "extract":
        return fields_in(raw, task.fields, text)
    answer = unescape_answer(raw.strip())
    if task.name == "translate" and text is not None and _line_count(answer) < _line_count(text):
        from excel_glm.providers.local import LocalModelError

        raise LocalModelError(
            f"the local model translated {_line_count(answer)} of the cell's "
            f"{_line_count(text)} lines; translate it with GLM-5 or split the lines"
        )
    return answer


def _line_count(text: str) -> int:
    return sum(1 for line in _cell_lines(text) if line.strip())


def _cell_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def completion_requests(task: Any, text: str) -> list[ChatRequest]:
    """The requests that answer one cell: one per non-blank line for a translation, else one.

    The small model drops every line after the first, so a multi-line cell is translated line by
    line and put back together by parse_completions.
    """
    if task.name != "translate":
        return [completion_request(task, text)]
    return [completion_request(task, line) for line in _cell_lines(text) if line.strip()]


def parse_completions(task: Any, raws: list[str], text: str) -> CellValue:
    """The cell's answer from the completions of completion_requests(task, text), in order."""
    if task.name != "translate":
        return parse_completion(task, raws[0], text)
    lines = _cell_lines(text)
    wanted = [line for line in lines if line.strip()]
    if len(raws) != len(wanted):
        raise ValueError(f"expected {len(wanted)} completions for this cell, got {len(raws)}")
    answers = iter(raws)
    # Blank lines stay blank, each other line gets its own translation, one line each.
    return "\n".join(
        " ".join(unescape_answer(next(answers).strip()).split("\n")) if line.strip() else line
        for line in lines
    )
