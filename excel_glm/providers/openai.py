"""Any OpenAI-compatible chat-completions server (vLLM, SGLang, Ollama, llama.cpp's server...).

The same wire as GLM minus GLM's own fields: no thinking, do_sample or request_id; temperature 0
for determinism; the API key is optional (local servers rarely want one).
"""

from __future__ import annotations

from typing import Any

from excel_glm.providers.base import ChatRequest
from excel_glm.providers.glm import GlmProvider


class OpenAIProvider(GlmProvider):
    """`{base_url}/chat/completions` on an OpenAI-compatible server."""

    name = "openai"
    label = "the model server"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": 0,
            "stream": False,
        }
        if request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.stop:
            body["stop"] = list(request.stop)
        return body
