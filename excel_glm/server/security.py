"""The service's guards: Host and Origin checks, a body size limit, the bearer token, redaction.

Why each exists:
- Host: a DNS-rebinding page (evil.example resolving to 127.0.0.1) reaches the service as
  same-origin to itself; only its Host header gives it away. Every path is checked, including the
  add-in's task pane, which carries the token.
- Origin: browsers send it on cross-origin requests; any origin but the service's own is refused,
  and the API sends no CORS header, so no other page can call it or read an answer. One exception:
  Excel on the web fetches the add-in's public files (functions.json...) from its own origin
  (https://excel.officeapps.live.com) and needs them CORS-readable; they hold no secret, so a GET
  of them is allowed from anywhere. The task pane page, which carries the token, is not one.
- Body size: a request is read into memory before it is parsed; the cap keeps that bounded.
- Token: every /v1 call needs `Authorization: Bearer <token>`, compared in constant time.
- One Host, one Origin: a request carrying two of either is refused, so no check can read one
  copy while another layer acts on the other.
- Fetch metadata: a browser marks a page's subresource request for the task pane (a script, an
  image, a fetch) as cross-site; only a navigation (Office loading the pane in its frame) may
  cross sites to it. Referer cannot serve here: Excel on the web frames the pane from its own site.
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("excel_glm.server")

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
PUBLIC_PREFIX = "/addin/"
# Add-in files that must never be readable by another origin: the task pane carries the token.
PRIVATE_FILES = frozenset({"/addin/taskpane.html"})
# Headers a request may carry once only: the guard's decisions rest on them.
SINGLE_HEADERS = (b"host", b"origin")
# Sec-Fetch-Site values of a request a page of this very service (or the user) started.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def is_public_file(method: str, path: str) -> bool:
    """True for a GET/HEAD of an add-in file with no secret in it (any origin may read it)."""
    return (
        method in ("GET", "HEAD") and path.startswith(PUBLIC_PREFIX) and path not in PRIVATE_FILES
    )


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Sizes one request may have."""

    max_body_bytes: int = 5 * 1024 * 1024
    max_cells: int = 100_000


class Redactor:
    """Replaces secrets (the API key, the token) in any text that leaves the process."""

    def __init__(self, secret_values: Iterable[str | None]) -> None:
        self._secrets = sorted(
            {s for s in secret_values if s and len(s) >= 4}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text


def allowed_hosts(port: int) -> frozenset[str]:
    """Host header values the service answers to: loopback names with its port."""
    hosts = {f"{name}:{port}" for name in LOOPBACK_HOSTS}
    if port in (80, 443):  # a default port may be left out of the Host header
        hosts.update(LOOPBACK_HOSTS)
    return frozenset(hosts)


def token_matches(authorization: str | None, token: str) -> bool:
    """True when the Authorization header is `Bearer <token>` (constant-time comparison)."""
    if not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(presented.strip().encode(), token.encode())


class LoopbackGuard:
    """ASGI middleware: Host and Origin checks, the body size limit, and no traceback ever leaks.

    Pure ASGI rather than BaseHTTPMiddleware: it adds no task or stream per request, which keeps
    a cached one-cell call within a few milliseconds.
    """

    def __init__(self, app: ASGIApp, *, port: int, limits: ServiceLimits, redact: Redactor) -> None:
        self.app = app
        self.port = port
        self.hosts = allowed_hosts(port)
        self.origins = {
            scheme: frozenset(f"{scheme}://{host}" for host in self.hosts)
            for scheme in ("http", "https")
        }
        self.limits = limits
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _send_json(send, *refusal)
            return
        if scope["method"] in BODY_METHODS:
            buffered = await self._read_body(receive, headers)
            if isinstance(buffered, tuple):
                await _send_json(send, *buffered)
                return
            receive = _replay(buffered, receive)
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SAFETY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            # Uvicorn would log the traceback as is; log it redacted and answer without it.
            log.error("unexpected error: %s", self.redact(_describe(exc)))
            if not started:
                await _send_json(send, 500, "internal error in the service; see its log")

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        repeated = _repeated_header(scope)
        if repeated is not None:
            return 400, f"refused: the request carries more than one {repeated} header"
        host = headers.get("host", "")
        if host.lower() not in self.hosts:
            return 403, f"refused: Host {host!r} is not this service (use localhost:{self.port})"
        origin = headers.get("origin")
        # Same scheme only: an http:// page on this port is not the add-in's https:// origin.
        own = self.origins.get(scope.get("scheme", "http"), frozenset())
        if origin is not None and origin not in own and not _public(scope):
            return 403, f"refused: requests from origin {origin!r} are not allowed"
        if scope["path"] in PRIVATE_FILES and not _own_or_navigation(headers):
            return 403, "refused: the task pane is a page to open, not a resource of another site"
        return None

    async def _read_body(
        self, receive: Receive, headers: dict[str, str]
    ) -> bytes | tuple[int, str]:
        limit = self.limits.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return 413, _too_big(declared, limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400, "the client disconnected before sending the whole body"
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return 413, _too_big(f"over {size}", limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


# Every answer: never sniff a type, never send a referrer from the add-in's pages.
SAFETY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def _repeated_header(scope: Scope) -> str | None:
    """The name of a guarded header the request carries more than once, else None."""
    seen: set[bytes] = set()
    for name, _ in scope["headers"]:
        name = name.lower()
        if name in SINGLE_HEADERS:
            if name in seen:
                return name.decode().title()
            seen.add(name)
    return None


def _own_or_navigation(headers: dict[str, str]) -> bool:
    """False when a browser says another site's page asks for this as a subresource."""
    site = headers.get("sec-fetch-site")
    if site is None or site.lower() in OWN_FETCH_SITES:
        return True  # no fetch metadata (not a browser, or an old one): Host and Origin decide
    return headers.get("sec-fetch-mode", "").lower() == "navigate"


def _public(scope: Scope) -> bool:
    return is_public_file(scope["method"], scope["path"])


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later reads wait for the disconnect, as usual

    return replay


def _too_big(size: str, limit: int) -> str:
    return (
        f"request body too large: {size} bytes (the limit is {limit:,} bytes); "
        "send fewer cells per request"
    )


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *SAFETY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
