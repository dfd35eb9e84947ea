"""GLM (Zhipu / Z.ai) chat completions over httpx, one attempt per call.

Retrying, backoff and concurrency belong to the engine; this module turns one request into one
`Completion` or one classified `ProviderError`. Error messages are built from the server's code
and message only, so the API key can never appear in them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import functools
import json
import logging
import re
import ssl
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from excel_glm.config import Settings
from excel_glm.engine.retry import Failure, classify_failure
from excel_glm.errors import (
    AuthenticationError,
    FatalProviderError,
    InsufficientBalanceError,
    ProviderError,
    QuotaExceededError,
    RetryableProviderError,
)
from excel_glm.providers.base import Capabilities, ChatRequest, Completion

_FATAL_TYPES: dict[Failure, type[FatalProviderError]] = {
    Failure.AUTH: AuthenticationError,
    Failure.BALANCE: InsufficientBalanceError,
    Failure.QUOTA: QuotaExceededError,
}

log = logging.getLogger("excel_glm.providers")
MAX_OUTPUT_TOKENS = 131_072  # GLM's max_tokens ceiling
THINKING_ROOM_TOKENS = 4_096  # reasoning tokens allowed before the answer, when it must think

_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what an HTTP header can carry

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
    # Cleared when the model refuses `thinking: disabled` (GLM-5.3 always thinks).
    _thinking_off_accepted = True

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.model = settings.model
        self.base_url = self._normal_base_url(settings.base_url)
        self.url = f"{self.base_url}/chat/completions"
        self.capabilities = Capabilities()
        # Keys pasted from a web page or a file often carry a trailing newline or space.
        key = settings.api_key.get_secret_value().strip() if settings.api_key else ""
        self._api_key = key or None
        self._timeout = httpx.Timeout(settings.request_timeout_s, connect=10.0)
        # A non-streamed answer arrives in one piece once generated, within the read timeout;
        # twice that (plus a second for connecting) bounds any answer that is truly coming.
        self._deadline_s = 2 * settings.request_timeout_s + 1.0
        # A pool smaller than the concurrency limit would queue requests inside httpx, where
        # their timeouts run down before they are even sent.
        self._pool_size = max(64, settings.concurrency)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @staticmethod
    def _normal_base_url(base_url: str) -> str:
        """The base without a trailing slash or a pasted `/chat/completions`."""
        base = base_url.strip().rstrip("/")
        if base.endswith("/chat/completions"):
            base = base[: -len("/chat/completions")].rstrip("/")
        return base

    def request_headers(self) -> dict[str, str]:
        """The headers of every call to this server (the Batch API's calls too)."""
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if self._api_key:
            if not _HEADER_SAFE.fullmatch(self._api_key):
                # httpx would refuse it with an error that quotes the header, key and all.
                raise AuthenticationError(
                    f"the API key for {self.label} contains a character that cannot be sent"
                    " (a space, quote or line break pasted with it?): check EXCEL_GLM_API_KEY"
                )
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The chat-completions body for `request` (also each line of a Batch API file)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "thinking": {"type": "disabled"},
            "do_sample": False,
            "stream": False,
            "request_id": request_id_for(request.key),
        }
        if not self._thinking_off_accepted:
            # It will think whatever we say: think little, and leave room for it before the answer.
            del body["thinking"]
            body["reasoning_effort"] = "low"
            body["max_tokens"] = min(MAX_OUTPUT_TOKENS, request.max_tokens + THINKING_ROOM_TOKENS)
        if request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.stop:
            body["stop"] = list(request.stop[:1])
        return body

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self._pool_size, max_keepalive_connections=self._pool_size // 2
            )
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport,
                limits=limits,
                verify=_tls_context(),
            )
        return self._client

    async def complete(self, request: ChatRequest) -> Completion:
        """Send one request; raise RetryableProviderError or a FatalProviderError on failure.
        A model that cannot stop thinking is asked again, and from then on, with thinking on."""
        try:
            return await self._complete_once(request)
        except FatalProviderError as exc:
            if not (self._thinking_off_accepted and _refuses_thinking_off(exc)):
                raise
        self._thinking_off_accepted = False
        log.warning("%s always thinks: asking with a small reasoning effort", self.model)
        return await self._complete_once(request)

    async def _complete_once(self, request: ChatRequest) -> Completion:
        headers = self.request_headers()
        data = json.dumps(self.request_body(request), ensure_ascii=False).encode()
        try:
            # The read timeout bounds each wait for bytes; the deadline bounds the whole answer,
            # so a server trickling bytes cannot hold a slot (and the run) forever.
            async with asyncio.timeout(self._deadline_s):
                response = await self._http().post(self.url, content=data, headers=headers)
        except (httpx.TimeoutException, TimeoutError):
            raise RetryableProviderError(
                f"{self.label} did not answer within {self._timeout.read:g} s"
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
        if not 200 <= response.status_code < 300 or _in_band_error(payload):
            return self.completion_for_error(response, payload)
        if not isinstance(payload, dict):
            # A 200 whose body is not JSON: a cut connection or a proxy page; worth another try.
            raise RetryableProviderError(f"{self.label} sent an unreadable answer", status=200)
        try:
            choice = payload["choices"][0]
            message = choice.get("message") or {}
            content = _content_text(message.get("content"))
            finish = _finish_reason(choice.get("finish_reason"))
        except (KeyError, IndexError, TypeError, AttributeError):
            raise RetryableProviderError(
                f"{self.label} sent an answer without choices", status=200
            ) from None
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        details = usage.get("prompt_tokens_details")
        return Completion(
            text=content,
            finish_reason=finish,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            cached_tokens=_count(details.get("cached_tokens") if isinstance(details, dict) else 0),
        )

    def completion_for_error(self, response: httpx.Response, payload: Any) -> Completion:
        """A content-filter answer for the cells concerned; every other error is raised,
        classified as retryable or fatal, with a message that never holds the key."""
        status = response.status_code
        code, message = error_fields(payload)
        failure = _honour_should_retry(classify_failure(status, code), response)
        if failure is Failure.CELL:
            # 1301 blocks this content exactly like finish_reason "sensitive": the engine
            # isolates the cell concerned either way.
            return Completion(text="", finish_reason="sensitive")
        text = self._describe(status, code, message, response)
        if failure in (Failure.RETRY, Failure.OVERLOAD):
            exc = RetryableProviderError(text, code=code, status=status)
            exc.retry_after = _retry_after(response)  # type: ignore[attr-defined]
            raise exc
        if failure is Failure.GIVE_UP:
            # x-should-retry: false. These cells fail; the run goes on.
            raise ProviderError(text, code=code, status=status)
        raise _FATAL_TYPES.get(failure, FatalProviderError)(text, code=code, status=status)

    def _describe(
        self, status: int, code: str | None, message: str | None, response: httpx.Response
    ) -> str:
        """One line: advice first when there is any, then the server's code and message."""
        text = f"{self.label} error {code or status}"
        if code and status:
            text += f" (HTTP {status})"
        reset = _reset_time(message) if code in _QUOTA_WITH_RESET else None
        if reset:
            text += f"; the limit resets at {reset}"
        if message:
            text += f": {self.scrub(message)}"
        advice = self._advice(status, code, message, response)
        return f"{advice} ({text})" if advice else text

    def _advice(
        self, status: int, code: str | None, message: str | None, response: httpx.Response
    ) -> str | None:
        failure = classify_failure(status, code)
        if failure in _ADVICE:
            return _ADVICE[failure].format(label=self.label)
        if code == "1211" or (status == 404 and "model" in (message or "").lower()):
            return f"{self.label} does not know the model {self.model!r}: check EXCEL_GLM_MODEL"
        if status == 404:
            return (
                f"{self.label} has no chat endpoint at {_shown(self.url)}: check EXCEL_GLM_BASE_URL"
            )
        if 300 <= status < 400:
            where = response.headers.get("location", "another address")
            return (
                f"{self.label} redirected to {where}: set EXCEL_GLM_BASE_URL to the final address"
            )
        return None

    def scrub(self, message: str) -> str:
        """A server's message made safe to show: one short line with no part of the key."""
        message = " ".join(message.split())[:300]
        if self._api_key:
            # Servers echo keys back in part too ("invalid key abc123..."): hide each part.
            parts = [self._api_key, *self._api_key.split(".")]
            for part in sorted((p for p in parts if len(p) >= 6), key=len, reverse=True):
                message = message.replace(part, "***")
        return message

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _refuses_thinking_off(exc: FatalProviderError) -> bool:
    """A parameter error about thinking: "该模型始终思考，不支持关闭思考" (400/1210)."""
    text = str(exc).lower()
    return exc.code in ("1210", "1214") and ("think" in text or "思考" in text)


def _in_band_error(payload: Any) -> bool:
    """True for an error envelope: `{"error": ...}`, or a flat `{"code", "message"}` /
    vLLM's `{"object": "error", ...}` body, whatever the HTTP status."""
    if not isinstance(payload, dict):
        return False
    if payload.get("error"):
        return True
    if "choices" in payload:
        return False
    return payload.get("object") == "error" or ("code" in payload and "message" in payload)


def error_fields(payload: Any) -> tuple[str | None, str | None]:
    """(code, message) from GLM's `{"error": {...}}` envelope, a flat body, or nothing.

    A code missing from its field is read from a message that starts with it
    (`"[1113][Insufficient balance...][2026...]"`, as live answers have been seen to)."""
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error") or payload
    if isinstance(error, str):
        return _code_in(error), error
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = error.get("message")
    message = str(message) if message is not None else None
    code = str(code).strip() if code not in (None, "") else None
    if code is not None and code.endswith(".0") and code[:-2].isdigit():
        code = code[:-2]  # a number sent as 1302.0
    return code or _code_in(message), message


_CODE_IN_MESSAGE = re.compile(r"^\s*\[(\d{3,5})\]")
_RESET_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?)")


# Codes whose message names when a used-up limit resets (`next_flush_time`).
_QUOTA_WITH_RESET = {"1308", "1310", *(str(code) for code in range(1316, 1322))}


def _shown(url: str) -> str:
    """A URL fit for a message: no user name, password or query (they may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _code_in(message: str | None) -> str | None:
    match = _CODE_IN_MESSAGE.match(message or "")
    return match.group(1) if match else None


def _reset_time(message: str | None) -> str | None:
    """The time a used-up limit resets, when the message gives one (1308, 1310...)."""
    match = _RESET_TIME.search(message or "")
    return match.group(1) if match else None


def _content_text(content: Any) -> str:
    """The message text: a string, None (a tool call or an empty answer), or a list of parts
    (`[{"type": "text", "text": ...}]`, as some OpenAI-compatible servers send)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return json.dumps(content, ensure_ascii=False)


# finish_reason spellings of other servers, in GLM's words.
_FINISH_ALIASES = {
    "content_filter": "sensitive",  # OpenAI, Azure
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "end_turn": "stop",
    "max_tokens": "length",
    "model_length": "length",
    "abort": "network_error",  # vLLM: the request was aborted server-side
    "error": "network_error",
}


def _finish_reason(value: Any) -> str:
    reason = str(value).strip().lower() if value not in (None, "") else "stop"
    return _FINISH_ALIASES.get(reason, reason)


def _count(value: Any) -> int:
    """A token count from usage; anything unreadable counts 0 rather than failing the answer."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _honour_should_retry(failure: Failure, response: httpx.Response) -> Failure:
    """Apply the `x-should-retry` header Zhipu's SDK obeys; it never makes a key, balance or
    quota problem retryable."""
    hint = response.headers.get("x-should-retry", "").strip().lower()
    if hint == "true" and failure is Failure.FATAL:
        return Failure.RETRY
    if hint == "false" and failure in (Failure.RETRY, Failure.OVERLOAD):
        return Failure.GIVE_UP
    return failure


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    millis = response.headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
