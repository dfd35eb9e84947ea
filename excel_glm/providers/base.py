"""The one async interface every provider implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

FinishReason = Literal[
    "stop", "length", "sensitive", "network_error", "model_context_window_exceeded", "tool_calls"
]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One request to a model.

    Chat providers read `messages`; a completion-only provider (the embedded base model) reads
    `prompt`, a few-shot completion prompt, and stops at any of `stop`.
    `key` identifies the request in logs and seeds GLM's per-attempt `request_id`.
    """

    messages: list[dict[str, str]] = field(default_factory=list)
    prompt: str | None = None
    max_tokens: int = 256
    json_mode: bool = False
    stop: tuple[str, ...] = ()
    key: str = ""


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's answer: the text and why it ended, with token counts."""

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do; the engine shapes its requests by these."""

    chat: bool = True  # False: takes `ChatRequest.prompt`, one cell at a time
    packing: bool = True  # several cells in one request, JSON ids in and out
    json_mode: bool = True  # honours response_format json_object
    max_concurrency: int | None = None  # a hard cap, e.g. 1 for an in-process model


@runtime_checkable
class Provider(Protocol):
    """A model behind one method. Errors are raised as excel_glm.errors.ProviderError subclasses:
    RetryableProviderError for what may succeed later, FatalProviderError for what cannot."""

    name: str
    model: str
    capabilities: Capabilities

    async def complete(self, request: ChatRequest) -> Completion:
        """Send one request and return the model's answer."""
        ...

    async def aclose(self) -> None:
        """Release connections or the loaded model."""
        ...
