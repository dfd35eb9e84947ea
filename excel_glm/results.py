"""What a run gives back: one result per cell, usage, progress and estimates."""

from __future__ import annotations

from dataclasses import dataclass, field

# An extract answer maps each requested field to its value; every other task answers with text.
CellValue = str | dict[str, str]


@dataclass(frozen=True, slots=True)
class CellResult:
    """Exactly one of `value` or `error` for a non-blank cell; both None for a blank one."""

    value: CellValue | None = None
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class Usage:
    """Tokens, requests and cost of a run (cost in USD from the per-model price table)."""

    cells: int = 0
    distinct: int = 0
    cache_hits: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for progress bars: `done` of `total` non-blank cells have a result or an error."""

    done: int
    total: int
    cache_hits: int
    usage: Usage


@dataclass(slots=True)
class RunResult:
    """Results in the order of the input values, and what they cost."""

    results: list[CellResult] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a run would do, computed without calling the provider (--dry-run, the task pane)."""

    cells: int
    distinct: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
