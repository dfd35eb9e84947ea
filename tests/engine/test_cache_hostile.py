"""A cache file that cannot be used is one clear error before any call, and is left in place."""

from __future__ import annotations

import sqlite3

import pytest

from excel_glm.cache import Cache, migrate
from excel_glm.errors import ConfigError
from excel_glm.tasks import make_task

TRANSLATE = make_task("translate", {"to": "English"})


@pytest.mark.parametrize(
    "content",
    [b"this is a CSV file,not a cache\n" * 20, b"SQLite format 3\x00" + b"\xff" * 600],
    ids=["csv", "garbled-sqlite"],
)
async def test_a_file_that_is_not_a_cache_is_one_clear_error(
    make_engine, fake_glm, tmp_path, content
):
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(content)
    engine = make_engine(cache_path=path)
    with pytest.raises(ConfigError) as caught:
        await engine.run(TRANSLATE, ["hola"])
    assert str(path) in str(caught.value) and "EXCEL_GLM_CACHE_PATH" in str(caught.value)
    assert fake_glm.requests == []  # nothing paid for that could not be kept
    assert path.read_bytes() == content  # the user's file is untouched


async def test_a_cache_that_cannot_be_created_is_one_clear_error(make_engine, fake_glm, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache's folder should be")
    engine = make_engine(cache_path=blocker / "cache.sqlite3")
    with pytest.raises(ConfigError, match="cannot be created or written"):
        await engine.run(TRANSLATE, ["hola"])
    assert fake_glm.requests == []


def _future_cache(path, *, compatible: bool) -> None:
    """A cache a newer excel-glm migrated: one more migration, compatible with our writes or
    not (a new NOT NULL column we do not fill)."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    column = "ADD COLUMN note TEXT" if compatible else "ADD COLUMN tenant TEXT NOT NULL DEFAULT ''"
    conn.execute(f"ALTER TABLE answers {column}")
    if not compatible:
        conn.execute(
            "CREATE TRIGGER need_tenant BEFORE INSERT ON answers "
            "WHEN NEW.tenant = '' BEGIN SELECT RAISE(ABORT, 'tenant required'); END"
        )
    conn.execute("INSERT INTO _migrations VALUES ('099_from_the_future', 0)")
    conn.close()


async def test_a_newer_but_compatible_cache_is_used(make_engine, fake_glm, tmp_path):
    path = tmp_path / "cache.sqlite3"
    _future_cache(path, compatible=True)
    engine = make_engine(cache_path=path)
    result = await engine.run(TRANSLATE, ["hola"])
    assert result.results[0].value == "[English] hola" and engine.cache.count() == 1


async def test_a_newer_incompatible_cache_is_refused_before_any_call(
    make_engine, fake_glm, tmp_path
):
    path = tmp_path / "cache.sqlite3"
    _future_cache(path, compatible=False)
    with pytest.raises(ConfigError, match="newer excel-glm") as caught:
        await make_engine(cache_path=path).run(TRANSLATE, ["hola"])
    assert "099_from_the_future" in str(caught.value)
    assert fake_glm.requests == []


def test_an_unreadable_row_is_a_miss_not_a_crash(tmp_path):
    cache = Cache(tmp_path / "c.sqlite3")
    cache.put_many([("good", "fine"), ("bad", "x")], provider="p", model="m", task="t")
    with cache._lock:
        conn = cache._connect()
        with conn:
            conn.execute("UPDATE answers SET value = '{not json' WHERE key = 'bad'")
    assert cache.get_many(["good", "bad"]) == {"good": "fine"}
    cache.close()


async def test_a_cache_that_stops_taking_writes_mid_run_is_one_clear_error(
    make_engine, fake_glm, tmp_path
):
    engine = make_engine(cache_path=tmp_path / "cache.sqlite3")
    engine.cache.count()
    engine.cache._connect().execute("PRAGMA query_only = ON")  # as a full or read-only disk
    with pytest.raises(ConfigError, match="cannot be created or written"):
        await engine.run(TRANSLATE, ["hola"])
