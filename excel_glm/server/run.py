"""Run the service with uvicorn: loopback only, over HTTPS with the local CA unless told not to."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from excel_glm.certs import CertPaths, ensure_certificates
from excel_glm.config import Settings
from excel_glm.errors import ConfigError
from excel_glm.server.security import ServiceLimits
from excel_glm.token import token_path

# What each accepted --host binds to: "localhost" could resolve to every interface's alias, so it
# binds the IPv4 loopback address exactly.
BIND_ADDRESSES = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}


def bind_address(host: str) -> str:
    """The loopback address to bind for `host`; ConfigError for anything else."""
    try:
        return BIND_ADDRESSES[host]
    except KeyError:
        raise ConfigError(
            f"the service listens on loopback only (127.0.0.1 or ::1), not on {host!r}"
        ) from None


def uvicorn_options(
    *, host: str, port: int, certs: CertPaths | None, log_level: str = "info"
) -> dict[str, Any]:
    """uvicorn.Config keyword arguments for the service (the app aside)."""
    options: dict[str, Any] = {
        "host": bind_address(host),
        "port": port,
        "log_level": log_level,
        # Never trust X-Forwarded-*: nothing proxies a loopback service, and the scheme they would
        # set decides which Origin is accepted.
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 5,
    }
    if certs is not None:
        options["ssl_certfile"] = str(certs.cert)
        options["ssl_keyfile"] = str(certs.key)
    return options


def serve(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8765, use_https: bool = True
) -> None:
    """Run the service in the foreground until interrupted (Ctrl+C)."""
    import uvicorn

    from excel_glm.server.app import create_app

    bound = bind_address(host)
    # Bound before anything is printed: a second `serve` on a taken port says so in one line
    # instead of printing its instructions and then a uvicorn error.
    sock = listening_socket(bound, port)
    try:
        settings = settings.model_copy(update={"host": bound, "port": port})
        certs = ensure_certificates() if use_https else None
        app = create_app(settings)
        print(startup_message(port=port, certs=certs), flush=True)
        options = uvicorn_options(host=bound, port=port, certs=certs)
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
    finally:
        sock.close()


def listening_socket(address: str, port: int) -> socket.socket:
    """A socket bound to the loopback `address` and `port`; ConfigError if the port is taken."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name != "nt":  # on Windows this flag would let another process share the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {address} port {port}: {exc.strerror or exc} (is excel-glm serve "
            "already running? stop it, or choose another --port)"
        ) from None
    return sock


def startup_message(*, port: int, certs: CertPaths | None) -> str:
    """What `excel-glm serve` prints: the URL, how to trust the CA, how to sideload the manifest."""
    scheme = "https" if certs is not None else "http"
    base = f"{scheme}://localhost:{port}"
    lines = [
        f"excel-glm service: {base}  (API docs: {base}/docs)",
        f"API token: in {token_path()} (or EXCEL_GLM_TOKEN); every /v1 call needs it.",
    ]
    if certs is None:
        lines += [
            "Plain HTTP: for xlwings UDFs only. The Office add-in needs HTTPS (omit --http).",
            "xlwings: run `excel-glm xlwings` for the setup to paste into your workbook.",
            f'Check: {base}/health answers {{"status": "ok", ...}}. Stop with Ctrl+C.',
        ]
        return "\n".join(lines)
    ca = certs.ca_cert
    manifest = f"{base}/addin/manifest.xml"
    lines += [
        "",
        f"Trust the local certificate authority once (it is limited to localhost): {ca}",
        f'  Windows: certutil -addstore -user Root "{ca}"',
        "  macOS:   security add-trusted-cert -r trustRoot "
        f'-k ~/Library/Keychains/login.keychain-db "{ca}"',
        f'  Linux:   sudo cp "{ca}" /usr/local/share/ca-certificates/excel-glm-ca.crt '
        "&& sudo update-ca-certificates",
        f'           (Chrome/Chromium: certutil -d sql:$HOME/.pki/nssdb -A -t "C,," '
        f'-n excel-glm -i "{ca}")',
        "",
        f"Sideload the add-in: download {manifest}, then",
        "  Windows: share a folder holding manifest.xml; Excel > File > Options > Trust Center >",
        "           Trust Center Settings > Trusted Add-in Catalogs: add \\\\<computer>\\<share>,",
        "           tick Show in Menu, restart Excel; Home > Add-ins > More Add-ins >",
        "           Shared Folder > excel-glm (dev).",
        "  macOS:   copy manifest.xml to",
        "           ~/Library/Containers/com.microsoft.Excel/Data/Documents/wef/",
        "           (create wef if missing), restart Excel; Home > Add-ins > excel-glm (dev).",
        "  Web:     Excel on the web > Home > Add-ins > More Add-ins > My Add-ins >",
        "           Upload My Add-in > choose manifest.xml.",
    ]
    return "\n".join(lines)


class ServiceThread:
    """The service on a free loopback port in a background thread (tests, benchmarks).

    The socket is bound before the app is built, so the app knows its own port for the Host and
    Origin checks. Use as a context manager; `url`, `port` and `token` say how to reach it.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        use_https: bool = False,
        limits: ServiceLimits | None = None,
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self._settings = settings
        self._use_https = use_https
        self._limits = limits
        self._requested_port = port
        self._log_level = log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.token = ""
        self.ca_cert: Path | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321."""
        return f"{'https' if self._use_https else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ServiceThread:
        import uvicorn

        from excel_glm.server.app import create_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", self._requested_port))
        self.port = sock.getsockname()[1]
        settings = self._settings.model_copy(update={"host": "127.0.0.1", "port": self.port})
        certs = ensure_certificates() if self._use_https else None
        self.ca_cert = certs.ca_cert if certs else None
        app = create_app(settings, limits=self._limits)
        self.token = app.state.service.token
        options = uvicorn_options(
            host="127.0.0.1", port=self.port, certs=certs, log_level=self._log_level
        )
        # log_config=None: leave the process's logging alone (records go to the root logger).
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, **options))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("the excel-glm service did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
