"""The add-in's files under /addin/: the manifest with this service's origin, the task pane with
the token, everything else as is. No token is needed to fetch them; the Host check still applies.

Every file but the task pane may be read by any origin (Excel on the web fetches functions.json
from its own origin); the task pane is refused to other origins and never CORS-readable."""

from __future__ import annotations

import html
import mimetypes
import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Response, status

from excel_glm.server.deps import State
from excel_glm.server.security import PUBLIC_PREFIX, is_public_file

# The origin the committed manifest is written for; replaced by the serving origin.
MANIFEST_ORIGIN = "https://localhost:8765"
TOKEN_META = re.compile(r'<meta\s+name="excel-glm-token"\s+content="[^"]*"\s*/?>')
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}

router = APIRouter(prefix="/addin", tags=["add-in"])


@router.get("/{file_path:path}", summary="The add-in's files (manifest, functions, task pane)")
async def addin_file(file_path: str, state: State) -> Response:
    """Serve one file of the add-in folder; manifest.xml and taskpane.html are filled in."""
    root = state.settings.resolved_addin_dir.resolve()
    path = _inside(root, file_path)
    data = path.read_bytes()
    # Decided by the name asked for, exactly as the Origin guard decides what is private.
    public = is_public_file("GET", PUBLIC_PREFIX + file_path)
    if file_path == "manifest.xml":
        origin = f"https://localhost:{state.settings.port}"
        data = data.replace(MANIFEST_ORIGIN.encode(), origin.encode())
    elif not public:
        meta = f'<meta name="excel-glm-token" content="{html.escape(state.token, quote=True)}">'
        data = TOKEN_META.sub(lambda _: meta, data.decode("utf-8"), count=1).encode("utf-8")
    media_type = TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    # no-store: the task pane carries the token, and Office caches add-in files aggressively.
    headers = {"Cache-Control": "no-store"}
    if public:
        headers["Access-Control-Allow-Origin"] = "*"
    return Response(data, media_type=media_type, headers=headers)


def _inside(root: Path, file_path: str) -> Path:
    """The file under `root` named by `file_path`; 404 for anything else (.., hidden, missing)."""
    parts = Path(file_path).parts
    if not parts or any(p in ("..", ".") or p.startswith(".") for p in parts):
        raise _not_found(file_path)
    path = (root / file_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise _not_found(file_path)
    return path


def _not_found(file_path: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no add-in file {file_path!r}")
