"""The answer cache: SQLite in WAL mode, shared safely by the service and CLI runs at once.

It is also the checkpoint of a bulk run: the engine writes each answer the moment it arrives,
so an interrupted run resumes where it stopped. Errors are never stored.

The key is sha256 over a version prefix and the canonical JSON of provider, model, task name,
task version, task params and the input text. The schema evolves through the named, append-only
MIGRATIONS below: never edit or reorder an applied one, only add new ones at the end.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from excel_glm.errors import ConfigError
from excel_glm.results import CellValue

KEY_VERSION = "excel-glm/cache/v1"
BUSY_TIMEOUT_MS = 10_000
_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "001_create_answers",
        """
        CREATE TABLE answers (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            task TEXT NOT NULL,
            created_at REAL NOT NULL
        )
        """,
    ),
)


def cache_key(
    *,
    provider: str,
    model: str,
    task: str,
    version: str,
    params: Mapping[str, object],
    text: str,
) -> str:
    """The cache key of one answer: sha256 of a version prefix and canonical JSON."""
    canonical = json.dumps(
        {
            "provider": provider,
            "model": model,
            "task": task,
            "version": version,
            "params": params,
            "text": text,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(f"{KEY_VERSION}\n{canonical}".encode()).hexdigest()


class Cache:
    """A path-based SQLite cache; one connection per instance, guarded for use across threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        """The open connection; a cache that cannot be used is one ConfigError, raised before
        the run calls any model (a corrupt file is left in place for the user to look at)."""
        if self._conn is None:
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                try:
                    self._conn = self._open()
                    break
                except sqlite3.OperationalError as exc:
                    # Two processes opening a fresh cache at once: switching it to WAL needs
                    # a lock SQLite does not wait for, so the loser tries again shortly.
                    if "locked" in str(exc) and time.monotonic() < deadline:
                        time.sleep(0.02)
                        continue
                    raise ConfigError(_unusable(self.path, exc)) from None
                except (sqlite3.Error, OSError) as exc:
                    raise ConfigError(_unusable(self.path, exc)) from None
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL loses no committed answer on a crash of the process, only on
            # a power loss, and spares an fsync per pack.
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
            _check_writable_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, CellValue]:
        """The cached answers among `keys` (missing keys are absent)."""
        found: dict[str, CellValue] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            conn = self._connect()
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, value in rows:
                    answer = _decoded(value)
                    if answer is not None:  # an unreadable row is a miss, not a crash
                        found[key] = answer
        return found

    def get(self, key: str) -> CellValue | None:
        """One cached answer, or None."""
        return self.get_many([key]).get(key)

    def put_many(
        self, entries: Iterable[tuple[str, CellValue]], *, provider: str, model: str, task: str
    ) -> None:
        """Store answers in one transaction (committed before this returns)."""
        now = time.time()
        rows = [
            (key, json.dumps(value, ensure_ascii=False), provider, model, task, now)
            for key, value in entries
        ]
        if not rows:
            return
        with self._lock:
            conn = self._connect()
            try:
                with conn:
                    conn.executemany(
                        "INSERT OR REPLACE INTO answers (key, value, provider, model, task,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
            except sqlite3.Error as exc:  # a full disk, a file made read-only, a lock held for ages
                raise ConfigError(_unusable(self.path, exc)) from None

    def count(self) -> int:
        """How many answers are stored."""
        with self._lock:
            return self._connect().execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            conn = self._connect()
            with conn:
                conn.execute("DELETE FROM answers")

    def close(self) -> None:
        """Close the connection (the cache reopens on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet applied, in order; returns their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    applied_now: list[str] = []
    for name, sql in MIGRATIONS:
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh cache at
        # once cannot both apply the same migration.
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
            if not done:
                conn.execute(sql)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
                )
                applied_now.append(name)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied_now


_PROBE_KEY = "excel-glm schema probe"  # never a sha256 hex digest, so never a real key


def _check_writable_schema(conn: sqlite3.Connection) -> None:
    """A cache a newer excel-glm has migrated further is used only if our writes still fit:
    one test row, rolled back, so a paid answer can never fail to be stored mid-run."""
    known = {name for name, _ in MIGRATIONS}
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    if applied <= known:
        return
    conn.execute("SAVEPOINT probe")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO answers (key, value, provider, model, task, created_at)"
            " VALUES (?, ?, 'p', 'm', 't', 0)",
            (_PROBE_KEY, '""'),
        )
        conn.execute("SELECT key, value FROM answers WHERE key = ?", (_PROBE_KEY,)).fetchall()
    except sqlite3.Error as exc:
        newer = ", ".join(sorted(applied - known))
        raise sqlite3.DatabaseError(f"written by a newer excel-glm ({newer}): {exc}") from None
    finally:
        conn.execute("ROLLBACK TO probe")
        conn.execute("RELEASE probe")


def _unusable(path: Path, exc: BaseException) -> str:
    """One line on why the cache cannot be used and what to do."""
    detail = str(exc) or type(exc).__name__
    if "not a database" in detail or "malformed" in detail:
        why = "is not a readable SQLite database (corrupt, or another kind of file)"
    elif "newer excel-glm" in detail:
        why = f"was {detail}"
    elif isinstance(exc, OSError) or "readonly" in detail or "unable to open" in detail:
        why = f"cannot be created or written ({detail})"
    else:
        why = f"cannot be used ({detail})"
    return (
        f"the answer cache {path} {why}: move it aside, or set EXCEL_GLM_CACHE_PATH to another file"
    )


def _decoded(value: object) -> CellValue | None:
    """A stored answer, or None for a row this version cannot read."""
    try:
        answer = json.loads(value) if isinstance(value, str | bytes) else None
    except ValueError:
        return None
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict) and all(isinstance(v, str) for v in answer.values()):
        return answer
    return None
