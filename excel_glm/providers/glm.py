"""GLM (Zhipu / Z.ai) chat completions over httpx, one attempt per call.

Retrying, backoff and concurrency belong to the engine; this module turns one request into one
`Completion` or one classified `ProviderError`. Error messages are built from the server's code
and message only, so the API key can never appear in them.
"""

from __future__ import annotations

import functools
import json
import ssl
import uuid
from typing import Any

import httpx

from excel_glm.config import Settings
from excel_glm.engine.retry import Failure, classify_failure
from excel_glm.errors import (
    AuthenticationError,
    FatalProviderError,
    InsufficientBalanceError,
    QuotaExceededError,
    RetryableProviderError,
)
from excel_glm.providers.base import Capabilities, ChatRequest, Completion

_FATAL_TYPES: dict[Failure, type[FatalProviderError]] = {
    Failure.AUTH: AuthenticationError,
    Failure.BALANCE: InsufficientBalanceError,
    Failure.QUOTA: QuotaExceededError,
}

_ADVICE = {
    Failure.AUTH: "{label} rejected the API key: check EXCEL_GLM_API_KEY",
    Failure.BALANCE: "the {label} account has no balance or resource package left: recharge it",
    Failure.QUOTA: "a {label} usage quota is used up: wait for it to reset",
}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: building it (loading CA certificates) takes ~0.3 s."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def request_id_for(key: str) -> str:
    """A fresh request_id (6-64 characters) for one attempt; GLM rejects a duplicate in flight."""
    stem = "".join(ch for ch in key if ch.isalnum())[:24]
    return f"xg{stem}-{uuid.uuid4().hex[:16]}"


class GlmProvider:
    """Zhipu's `/chat/completions` with GLM's own fields (thinking off, greedy, request_id)."""

    name = "glm"
    label = "GLM"

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.model = settings.model
        self.base_url = settings.base_url.rstrip("/")
        self.capabilities = Capabilities()
        self._api_key = settings.api_key.get_secret_value() if settings.api_key else None
        self._timeout = httpx.Timeout(settings.request_timeout_s, connect=10.0)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "thinking": {"type": "disabled"},
            "do_sample": False,
            "stream": False,
            "request_id": request_id_for(request.key),
        }
        if request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.stop:
            body["stop"] = list(request.stop[:1])
        return body

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport,
                limits=limits,
                verify=_tls_context(),
            )
        return self._client

    async def complete(self, request: ChatRequest) -> Completion:
        """Send one request; raise RetryableProviderError or a FatalProviderError on failure."""
        data = json.dumps(self._body(request), ensure_ascii=False).encode()
        try:
            response = await self._http().post(
                f"{self.base_url}/chat/completions", content=data, headers=self._headers()
            )
        except httpx.TimeoutException:
            raise RetryableProviderError(
                f"{self.label} did not answer within {self._timeout.read:.0f} s"
            ) from None
        except httpx.HTTPError as exc:
            raise RetryableProviderError(
                f"network error talking to {self.label}: {type(exc).__name__}"
            ) from None
        return self._read(response)

    def _read(self, response: httpx.Response) -> Completion:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if response.status_code != 200 or error:
            return self._failure(response, payload)
        if not isinstance(payload, dict):
            # A 200 whose body is not JSON: a cut connection or a proxy page; worth another try.
            raise RetryableProviderError(f"{self.label} sent an unreadable answer", status=200)
        try:
            choice = payload["choices"][0]
            content = choice.get("message", {}).get("content") or ""
            finish = choice.get("finish_reason") or "stop"
        except (KeyError, IndexError, TypeError, AttributeError):
            raise RetryableProviderError(
                f"{self.label} sent an answer without choices", status=200
            ) from None
        usage = payload.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return Completion(
            text=content if isinstance(content, str) else json.dumps(content),
            finish_reason=str(finish),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
        )

    def _failure(self, response: httpx.Response, payload: Any) -> Completion:
        status = response.status_code
        code, message = _error_fields(payload)
        failure = classify_failure(status, code)
        if failure is Failure.CELL:
            # 1301 blocks this content exactly like finish_reason "sensitive": the engine
            # isolates the cell concerned either way.
            return Completion(text="", finish_reason="sensitive")
        text = f"{self.label} error {code or status}"
        if code and status:
            text += f" (HTTP {status})"
        if message:
            text += f": {self._scrub(message)}"
        if failure in _ADVICE:
            text = f"{_ADVICE[failure].format(label=self.label)} ({text})"
        if failure in (Failure.RETRY, Failure.OVERLOAD):
            exc = RetryableProviderError(text, code=code, status=status)
            exc.retry_after = _retry_after(response)  # type: ignore[attr-defined]
            raise exc
        raise _FATAL_TYPES.get(failure, FatalProviderError)(text, code=code, status=status)

    def _scrub(self, message: str) -> str:
        message = " ".join(message.split())[:300]
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return message

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _error_fields(payload: Any) -> tuple[str | None, str | None]:
    """(code, message) from GLM's `{"error": {...}}` envelope, a flat body, or nothing."""
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error", payload)
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = error.get("message")
    return (str(code) if code not in (None, "") else None), (
        str(message) if message is not None else None
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
