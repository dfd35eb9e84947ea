"""The bearer token the local service demands: from settings, else stored once (0600) and reused."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from excel_glm.config import Settings, user_config_dir


def token_path() -> Path:
    """Where the generated token is kept: `token` in the user config dir (mode 0600)."""
    return user_config_dir() / "token"


def read_stored_token() -> str | None:
    """The stored token, or None if none was generated yet (read-only: for clients, the UDFs)."""
    try:
        text = token_path().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def load_or_create_token(settings: Settings) -> str:
    """The token in force: settings.token, else the stored one, else a new one stored 0600."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    stored = read_stored_token()
    if stored is not None:
        ensure_private_dir(token_path().parent)
        _restrict_permissions(token_path())
        return stored
    return _create_token(token_path())


def ensure_private_dir(folder: Path) -> None:
    """Create `folder` (and its missing parents) for its owner only; stop others writing to it.

    Whoever may write to the folder may swap the token, or the CA the user is told to trust, for
    their own; Path.mkdir's default (0777 less the umask: world-writable under umask 0) will not do.
    """
    missing: list[Path] = []
    parent = folder
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700, exist_ok=True)  # the umask can only narrow 0700
    if os.name == "posix":
        status = folder.stat()
        if status.st_uid == os.getuid() and status.st_mode & 0o022:
            folder.chmod(stat.S_IMODE(status.st_mode) & ~0o022)


def _create_token(path: Path) -> str:
    ensure_private_dir(path.parent)
    token = secrets.token_urlsafe(32)
    # Write to a private temporary file first, then link it into place: the token is never readable
    # by others, never half-written, and two processes racing here agree on the winner's token.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            winner = read_stored_token()
            if winner is not None:
                return winner
            os.replace(tmp, path)  # an empty leftover file: take its place
        except OSError:
            os.replace(tmp, path)  # file systems without hard links
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return token


def _restrict_permissions(path: Path) -> None:
    # A token file someone made group/world readable by hand is tightened, not trusted as is.
    if os.name == "posix":
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(0o600)
