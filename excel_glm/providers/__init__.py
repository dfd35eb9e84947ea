"""Providers: `glm` (Zhipu's API), `openai` (any OpenAI-compatible server), `local` (llama.cpp)."""

from __future__ import annotations

from excel_glm.config import Settings
from excel_glm.errors import ConfigError
from excel_glm.providers.base import Capabilities, ChatRequest, Completion, Provider

__all__ = ["Capabilities", "ChatRequest", "Completion", "Provider", "make_provider"]


def make_provider(settings: Settings) -> Provider:
    """The provider named by `settings.provider_name` (the local model is imported only here)."""
    name = settings.provider_name
    if name == "glm":
        from excel_glm.providers.glm import GlmProvider

        return GlmProvider(settings)
    if name == "openai":
        from excel_glm.providers.openai import OpenAIProvider

        return OpenAIProvider(settings)
    if name == "local":
        try:
            from excel_glm.providers.local import LocalProvider
        except ImportError as exc:
            raise ConfigError(
                "the embedded local model needs the optional extra: pip install 'excel-glm[local]'"
                f" ({exc})"
            ) from None
        return LocalProvider(settings)
    raise ConfigError(f"unknown provider {name!r}; choose glm, openai or local")
