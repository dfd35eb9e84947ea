"""Zhipu's Batch API over httpx: upload a JSONL file, create a batch, poll it, download results.

One call per method, synchronous (the batch commands are sequential and short). Failures are
classified exactly like chat calls (excel_glm.engine.retry) and raised as the same exception tree,
with messages built by the glm provider from the server's code and message only, so the API key
never appears in them. What is safe to repeat (uploads and reads) is retried a few times;
creating a batch is retried only on an overload answer, which proves nothing was created.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from excel_glm.config import Settings
from excel_glm.engine.retry import Failure, RetryPolicy, classify_failure, policy_for
from excel_glm.errors import ConfigError, FatalProviderError, RetryableProviderError
from excel_glm.providers.glm import GlmProvider

CHAT_ENDPOINT = "/v4/chat/completions"
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
# The Batch API's documented limits per input file (glm_api.md section 4); the byte budget keeps
# a margin under 100 MB for the multipart envelope.
MAX_LINES_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 95 * 1024 * 1024
# Timestamps above this are milliseconds (the SDK sample) rather than seconds (the docs).
_MS_THRESHOLD = 10**11
_READ_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """What `GET /batches/{id}` says about one batch (empty file ids are "", as the API sends)."""

    id: str
    status: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str = ""
    error_file_id: str = ""
    created_at: dt.datetime | None = None
    errors: tuple[str, ...] = ()

    @property
    def terminal(self) -> bool:
        """True once the batch will not change any more."""
        return self.status in TERMINAL_STATUSES


def timestamp(value: object) -> dt.datetime | None:
    """A Batch API time (seconds or milliseconds since the epoch) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value >= _MS_THRESHOLD else value
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def batch_info(payload: dict[str, Any]) -> BatchInfo:
    """Parse a batch object, tolerating missing fields and nulls."""
    counts = payload.get("request_counts") or {}
    errors = (payload.get("errors") or {}).get("data") or []
    messages = tuple(
        " ".join(str(e.get("message") or e.get("code") or "").split())
        + (f" (line {e['line']})" if e.get("line") is not None else "")
        for e in errors
        if isinstance(e, dict)
    )
    return BatchInfo(
        id=str(payload.get("id") or ""),
        status=str(payload.get("status") or "unknown"),
        total=int(counts.get("total") or 0),
        completed=int(counts.get("completed") or 0),
        failed=int(counts.get("failed") or 0),
        output_file_id=str(payload.get("output_file_id") or ""),
        error_file_id=str(payload.get("error_file_id") or ""),
        created_at=timestamp(payload.get("created_at")),
        errors=messages,
    )


class BatchClient:
    """The Batch API endpoints of `settings.base_url`, with the settings' API key."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        if settings.api_key is None:
            raise ConfigError(
                "the Batch API needs a GLM API key: set EXCEL_GLM_API_KEY (or ZAI_API_KEY)"
            )
        # The provider owns the wire details (headers, body, error wording and key scrubbing).
        self.chat = GlmProvider(settings)
        self.base_url = self.chat.base_url
        self._policy = policy or policy_for(_READ_ATTEMPTS, settings.retry_delay_scale)
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.request_timeout_s, connect=10.0),
            transport=transport,
            headers={"Authorization": self.chat.request_headers()["Authorization"]},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> BatchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upload(self, name: str, data: bytes) -> str:
        """Upload one JSONL input file (purpose=batch); returns its file id."""
        files = {"file": (name, data, "application/jsonl")}
        payload = self._call("POST", "/files", files=files, data={"purpose": "batch"})
        file_id = str(payload.get("id") or "")
        if not file_id:
            raise FatalProviderError("GLM accepted the batch file but sent no file id")
        return file_id

    def create(self, input_file_id: str, metadata: dict[str, str]) -> BatchInfo:
        """Create a batch over an uploaded file; it answers through /v4/chat/completions."""
        body = {
            "input_file_id": input_file_id,
            "endpoint": CHAT_ENDPOINT,
            "completion_window": "24h",
            "metadata": metadata,
        }
        try:
            info = batch_info(self._call("POST", "/batches", json=body, repeat_safe=False))
        except RetryableProviderError as exc:
            # Not retried: after a timeout or a 5xx the batch may exist, and a second one is billed.
            raise RetryableProviderError(
                f"{exc}; the batch may or may not have been created: look at the batch list in "
                "the Zhipu console before submitting again",
                code=exc.code,
                status=exc.status,
            ) from None
        if not info.id:
            raise FatalProviderError("GLM created a batch but sent no batch id")
        return info

    def get(self, batch_id: str) -> BatchInfo:
        """The batch's current status and request counts."""
        return batch_info(self._call("GET", f"/batches/{batch_id}"))

    def content(self, file_id: str) -> bytes:
        """The raw content of an output or error file."""
        return self._send("GET", f"/files/{file_id}/content").content

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, **kwargs)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise RetryableProviderError(f"GLM sent an unreadable answer to {method} {path}")
        return payload

    def _send(
        self, method: str, path: str, *, repeat_safe: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """One request, retried while that is safe; raises the provider's classified errors."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, path, **kwargs)
            except RetryableProviderError as exc:
                overload = classify_failure(exc.status, exc.code) is Failure.OVERLOAD
                if attempt >= self._policy.max_attempts or not (repeat_safe or overload):
                    raise
                time.sleep(self._policy.delay(attempt, overload=overload))

    def _once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, f"{self.base_url}{path}", **kwargs)
        except httpx.TimeoutException:
            raise RetryableProviderError(f"GLM did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            raise RetryableProviderError(
                f"network error talking to GLM: {type(exc).__name__}"
            ) from None
        if response.status_code == 200:
            return response
        if response.status_code == 404 and path in ("/files", "/batches"):
            # Z.ai's international endpoint, or a self-hosted server, has no Batch API.
            raise FatalProviderError(
                f"there is no Batch API at {self.base_url} (HTTP 404 on {method} {path}): it is "
                "Zhipu's, at https://open.bigmodel.cn/api/paas/v4; check EXCEL_GLM_BASE_URL",
                status=404,
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        # The chat provider's classification and wording; it returns (rather than raises) only
        # for a content-filter code, which means nothing for a file or a batch.
        self.chat.completion_for_error(response, payload)
        raise FatalProviderError(f"GLM refused {method} {path} (HTTP {response.status_code})")


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; unreadable lines are skipped (they carry no custom_id)."""
    lines = []
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines
