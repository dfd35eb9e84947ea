"""Any OpenAI-compatible chat-completions server (vLLM, SGLang, Ollama, llama.cpp's server...).

The same wire as GLM minus GLM's own fields: no thinking, do_sample or request_id; temperature 0
for determinism; the API key is optional (local servers rarely want one). The base URL may be
given with or without `/v1`: a bare `http://host:port` gets the `/v1` all these servers use.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from excel_glm.errors import FatalProviderError
from excel_glm.providers.base import ChatRequest, Completion
from excel_glm.providers.glm import GlmProvider

log = logging.getLogger("excel_glm.providers")


class OpenAIProvider(GlmProvider):
    """`{base_url}/chat/completions` on an OpenAI-compatible server."""

    name = "openai"
    label = "the model server"
    # Cleared when the server refuses `response_format`; the answer reader copes with prose.
    _json_mode_accepted = True

    @staticmethod
    def _normal_base_url(base_url: str) -> str:
        base = GlmProvider._normal_base_url(base_url)
        if not urlsplit(base).path.strip("/"):
            base += "/v1"
        return base

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The OpenAI chat-completions body: no GLM-only fields."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": 0,
            "stream": False,
        }
        if request.json_mode and self._json_mode_accepted:
            body["response_format"] = {"type": "json_object"}
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    async def complete(self, request: ChatRequest) -> Completion:
        """Send one request; a server that rejects JSON mode is asked again without it."""
        try:
            return await super().complete(request)
        except FatalProviderError as exc:
            if not (request.json_mode and self._json_mode_accepted and _refuses_json_mode(exc)):
                raise
        self._json_mode_accepted = False
        log.warning("%s does not accept response_format: asking for JSON in words only", self.url)
        return await super().complete(request)


def _refuses_json_mode(exc: FatalProviderError) -> bool:
    """A 400/422 that names response_format: an older or minimal server without JSON mode."""
    text = str(exc).lower()
    return exc.status in (400, 422) and ("response_format" in text or "json_object" in text)
