"""The SQLite cache: keys, named migrations, WAL, and two processes writing at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

from excel_glm.cache import MIGRATIONS, Cache, cache_key

BASE = {
    "provider": "glm",
    "model": "glm-5",
    "task": "translate",
    "version": "1",
    "params": {"to": "English"},
    "text": "hola",
}


def test_key_changes_with_every_component():
    keys = {cache_key(**BASE)}
    for field, other in [
        ("provider", "openai"),
        ("model", "glm-4.6"),
        ("task", "ask"),
        ("version", "2"),
        ("params", {"to": "German"}),
        ("text", "hola "),
    ]:
        keys.add(cache_key(**{**BASE, field: other}))
    assert len(keys) == 7


def test_key_is_canonical_in_param_order():
    one = cache_key(**{**BASE, "params": {"to": "English", "from": "Spanish"}})
    two = cache_key(**{**BASE, "params": {"from": "Spanish", "to": "English"}})
    assert one == two and len(one) == 64


def test_values_round_trip_including_dicts(tmp_path):
    cache = Cache(tmp_path / "c.sqlite3")
    cache.put_many([("a", "text"), ("b", {"name": "Ann"})], provider="glm", model="m", task="t")
    assert cache.get_many(["a", "b", "missing"]) == {"a": "text", "b": {"name": "Ann"}}
    cache.close()


def test_get_many_handles_more_keys_than_one_query_allows(tmp_path):
    cache = Cache(tmp_path / "c.sqlite3")
    cache.put_many([(f"k{n}", str(n)) for n in range(1500)], provider="p", model="m", task="t")
    found = cache.get_many([f"k{n}" for n in range(2000)])
    assert len(found) == 1500 and found["k1499"] == "1499"


def test_blank_database_gets_every_named_migration_and_wal(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    Cache(path).count()
    conn = sqlite3.connect(path)
    applied = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert applied == [name for name, _ in MIGRATIONS]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {row[1] for row in conn.execute("PRAGMA table_info(answers)")}
    assert {"key", "value", "provider", "model", "task", "created_at"} <= columns


def test_reopening_applies_no_migration_twice(tmp_path):
    from excel_glm.cache import migrate

    path = tmp_path / "c.sqlite3"
    Cache(path).count()
    assert migrate(sqlite3.connect(path, isolation_level=None)) == []


WRITER = textwrap.dedent(
    """
    import sys
    from excel_glm.cache import Cache
    cache = Cache(sys.argv[1])
    for n in range(150):
        cache.put_many([(f"{sys.argv[2]}-{n}", f"v{n}")], provider="p", model="m", task="t")
        cache.get_many([f"{sys.argv[2]}-{n}"])
    """
)


def test_two_processes_write_at_once_without_losing_answers(tmp_path):
    path = tmp_path / "shared.sqlite3"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in ("cli", "svc")
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    cache = Cache(path)
    assert cache.count() == 300
    assert cache.get("cli-149") == "v149" and cache.get("svc-0") == "v0"
