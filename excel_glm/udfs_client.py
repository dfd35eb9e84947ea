"""The HTTP client the xlwings UDFs use to reach the running excel-glm service (POST /v1/cells).

The UDFs never call GLM themselves: they send their cells to the local service, so formulas from
xlwings and from the Office add-in share one cache, one rate limit and one API key (which the UDF
process never sees). Every failure becomes a `ServiceCallError` whose message is fit to show in a
cell: how to start the service, a refused token, or the service's own one-line message.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from excel_glm.errors import ConfigError, ExcelGlmError

if TYPE_CHECKING:
    from excel_glm.config import Settings

SERVICE_URL_ENV = "EXCEL_GLM_SERVICE_URL"
TOKEN_ENV = "EXCEL_GLM_TOKEN"
DEFAULT_PORT = 8765
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Loopback connects at once or is refused at once; reading may take minutes while GLM works
# through a large range, so only the read timeout is long.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 600.0

# Cells per request, and a rough bound on the JSON body, both well under the service's limits, so
# a huge range becomes several requests instead of one the service must refuse.
MAX_CELLS_PER_REQUEST = 5_000
MAX_BODY_BYTES = 2_000_000


class ServiceCallError(ExcelGlmError):
    """The service could not be reached or refused the call; the message is fit for a cell."""


@dataclass(frozen=True, slots=True)
class CellAnswers:
    """The service's answer for a flat list of cells: one value and one error per cell, in order."""

    values: list[Any]
    errors: list[str | None]


def service_url(settings: Settings | None) -> str:
    """The service URL: EXCEL_GLM_SERVICE_URL, else plain HTTP on loopback at the set port."""
    explicit = os.environ.get(SERVICE_URL_ENV, "").strip()
    if explicit:
        return explicit.rstrip("/")
    port = settings.port if settings is not None else DEFAULT_PORT
    return f"http://127.0.0.1:{port}"


def resolve_token(settings: Settings | None, base_url: str) -> str:
    """The service's bearer token: EXCEL_GLM_TOKEN or the config file, else the stored token file.

    Read-only: the UDFs never create a token; none stored means the service was never started.
    """
    if settings is not None and settings.token is not None:
        return settings.token.get_secret_value()
    explicit = os.environ.get(TOKEN_ENV, "").strip()
    if explicit:  # settings failed to load for an unrelated reason; the variable still counts
        return explicit
    from excel_glm.token import read_stored_token

    stored = read_stored_token()
    if stored is None:
        raise ServiceCallError(
            "excel-glm service has not been started yet (no token found) — start it with: "
            f"{start_command(base_url)}"
        )
    return stored


def start_command(url: str) -> str:
    """The command that starts a service at `url` (plain HTTP is what xlwings normally uses)."""
    port = httpx.URL(url).port
    command = "excel-glm serve" if url.startswith("https:") else "excel-glm serve --http"
    return command if port in (None, DEFAULT_PORT) else f"{command} --port {port}"


class ServiceClient:
    """Calls POST /v1/cells on the local service over a shared keep-alive connection pool."""

    def __init__(self, base_url: str, token: str, http: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = http

    def cells(self, task: str, values: Sequence[object], params: dict[str, object]) -> CellAnswers:
        """Run `task` over a flat list of cells; answers come back in the same order."""
        answers = CellAnswers(values=[], errors=[])
        for chunk in _chunks(values):
            # Each chunk travels as an N x 1 matrix: the service keeps shapes, the caller reshapes.
            body = {"task": task, "values": [[cell] for cell in chunk], "params": params}
            got = self._post_cells(body, len(chunk))
            answers.values.extend(got.values)
            answers.errors.extend(got.errors)
        return answers

    def _post_cells(self, body: dict[str, object], count: int) -> CellAnswers:
        try:
            response = self._http.post(
                f"{self.base_url}/v1/cells",
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except httpx.ConnectError as exc:
            if _is_tls_failure(exc):
                raise ServiceCallError(
                    f"the excel-glm service at {self.base_url} did not present a certificate from "
                    "the local CA; restart it with: excel-glm serve"
                ) from None
            raise ServiceCallError(
                f"excel-glm service not running at {self.base_url} — start it with: "
                f"{start_command(self.base_url)}"
            ) from None
        except httpx.TimeoutException:
            raise ServiceCallError(
                f"excel-glm service at {self.base_url} did not answer in time; answers it already "
                "received are cached — recalculate to try again"
            ) from None
        except httpx.HTTPError as exc:
            raise ServiceCallError(
                f"cannot talk to the excel-glm service at {self.base_url}: {type(exc).__name__}"
            ) from None
        return _parse_answer(response, count, self.base_url)


def _parse_answer(response: httpx.Response, count: int, base_url: str) -> CellAnswers:
    if response.status_code == 401:
        raise ServiceCallError(
            f"the excel-glm service at {base_url} refused the token (401): unset EXCEL_GLM_TOKEN "
            "to use the stored token, or set it to the token the service was started with"
        )
    if response.status_code != 200:
        detail = _detail(response)
        raise ServiceCallError(
            detail or f"the excel-glm service at {base_url} answered HTTP {response.status_code}"
        )
    try:
        payload = response.json()
        values = _column(payload["values"])
        errors = _column(payload["errors"])
    except (ValueError, KeyError, TypeError):
        raise ServiceCallError(
            f"unexpected answer from the excel-glm service at {base_url}"
        ) from None
    # Never shift or drop a cell: a short or long answer is an error for the whole call.
    if len(values) != count or len(errors) != count:
        raise ServiceCallError(
            f"the excel-glm service answered {len(values)} cells for {count}; nothing was written"
        )
    return CellAnswers(values=values, errors=[None if e is None else str(e) for e in errors])


def _column(matrix: object) -> list[object]:
    """The cells of an N x 1 matrix, in order; anything else is a malformed answer."""
    if not isinstance(matrix, list) or not all(
        isinstance(row, list) and len(row) == 1 for row in matrix
    ):
        raise ValueError("not an N x 1 matrix")
    return [row[0] for row in matrix]


def _is_tls_failure(exc: BaseException) -> bool:
    # httpx reports a certificate it cannot verify as a ConnectError; the SSLError is in the chain.
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            return False
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _detail(response: httpx.Response) -> str | None:
    """The service's own message: {"detail": "..."}, or a validation list of {"msg": ...}."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        messages = [
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
        ]
        return "; ".join(messages) or None
    return None


def _chunks(values: Sequence[object]) -> Iterator[list[object]]:
    chunk: list[object] = []
    size = 0
    for value in values:
        cell_size = len(json.dumps(value, ensure_ascii=False, default=str)) + 4
        if chunk and (len(chunk) >= MAX_CELLS_PER_REQUEST or size + cell_size > MAX_BODY_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(value)
        size += cell_size
    if chunk:
        yield chunk


_pool_lock = threading.Lock()
_pools: dict[tuple[str, str | None], httpx.Client] = {}


def shared_client() -> ServiceClient:
    """A client for the configured service, reusing one keep-alive httpx.Client per URL.

    Thread-safe: xlwings runs asynchronous UDFs on a thread pool.
    """
    settings = _settings_or_none()
    base_url = service_url(settings)
    _require_loopback(base_url)
    token = resolve_token(settings, base_url)
    verify: ssl.SSLContext | bool = True
    ca_file: str | None = None
    if base_url.startswith("https:"):
        ca_file, verify = _local_ca_context(base_url)
    key = (base_url, ca_file)
    with _pool_lock:
        http = _pools.get(key)
        if http is None:
            http = httpx.Client(
                timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                verify=verify,
                trust_env=False,  # loopback only: never route the token through a proxy
            )
            _pools[key] = http
    return ServiceClient(base_url, token, http)


def _require_loopback(base_url: str) -> None:
    # The token is worth the user's credit: it only ever goes to a service on this machine.
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or url.host not in LOOPBACK_HOSTS:
        raise ServiceCallError(
            f"{SERVICE_URL_ENV} must be http:// or https:// on this machine (127.0.0.1 or "
            f"localhost), not {base_url!r}"
        )


def close_shared_clients() -> None:
    """Close every pooled connection (tests, and a clean shutdown of the UDF server)."""
    with _pool_lock:
        for http in _pools.values():
            http.close()
        _pools.clear()


def _local_ca_context(base_url: str) -> tuple[str, ssl.SSLContext]:
    from excel_glm.certs import ca_cert_path

    ca = ca_cert_path()
    if not ca.exists():
        raise ServiceCallError(
            f"no local certificate authority at {ca} for {base_url} — start the service once with: "
            "excel-glm serve"
        )
    return str(ca), ssl.create_default_context(cafile=str(ca))


def _settings_or_none() -> Settings | None:
    """The user's settings, or None when they do not load (the UDFs need only port and token)."""
    from excel_glm.config import load_settings

    try:
        return load_settings()
    except ConfigError:
        return None
