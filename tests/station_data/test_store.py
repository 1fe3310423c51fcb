"""The SQLite store: durability pragmas, schema versions, migration atomicity, disk-full translation."""

from __future__ import annotations

import sqlite3

import pytest

from station import store
from station.errors import StorageFull
from station.store import DB_NAME, SCHEMA_VERSION, SchemaTooNew, connect, transaction, translate_disk_full


def test_pragmas_are_durable(data_dir):
    conn = connect(data_dir)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.integrity_check(conn) == "ok"
    conn.close()


def test_foreign_keys_are_enforced(data_dir):
    conn = connect(data_dir)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO resident_name_tokens (token, nik, kode_desa) VALUES ('siti', 'nobody', 'x')")
    conn.close()


def test_reopening_is_idempotent_and_keeps_data(data_dir):
    conn = connect(data_dir)
    conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    tables = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    again = connect(data_dir)
    assert again.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v"
    assert again.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == tables
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again.close()


def test_newer_schema_is_refused_untouched(data_dir):
    raw = sqlite3.connect(data_dir / DB_NAME)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(SchemaTooNew, match="newer than this software"):
        connect(data_dir)
    raw = sqlite3.connect(data_dir / DB_NAME)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    raw.close()


def test_failed_migration_rolls_back_to_the_old_version(data_dir, monkeypatch):
    connect(data_dir).close()
    broken = "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, broken])
    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        connect(data_dir)
    raw = sqlite3.connect(data_dir / DB_NAME)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    raw.close()


def test_failed_migration_on_fresh_store_keeps_earlier_versions(data_dir, monkeypatch):
    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, "CREATE TABLE operators (x);"])
    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        connect(data_dir)
    raw = sqlite3.connect(data_dir / DB_NAME)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_transaction_rolls_back_on_error(data_dir):
    conn = connect(data_dir)
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO meta (key, value) VALUES ('lost', '1')")
        raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM meta WHERE key = 'lost'").fetchone()[0] == 0
    assert not conn.in_transaction
    conn.close()


def _nearly_full(data_dir):
    conn = connect(data_dir)
    conn.execute("INSERT INTO meta (key, value) VALUES ('kept', '1')")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    return conn


def test_full_database_outside_a_transaction_becomes_storage_full(data_dir):
    conn = _nearly_full(data_dir)
    with pytest.raises(StorageFull, match="storage is full"), translate_disk_full():
        for i in range(100):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"big{i}", "x" * 4000))
    assert conn.execute("SELECT value FROM meta WHERE key = 'kept'").fetchone()[0] == "1"
    conn.close()


def test_full_database_becomes_storage_full_and_keeps_committed_rows(data_dir):
    conn = _nearly_full(data_dir)
    with pytest.raises(StorageFull, match="storage is full"), transaction(conn):
        for i in range(100):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"big{i}", "x" * 4000))
    assert conn.execute("SELECT value FROM meta WHERE key = 'kept'").fetchone()[0] == "1"
    assert conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'big%'").fetchone()[0] == 0
    conn.close()


def test_store_is_private_to_the_station_user(data_dir):
    loose = data_dir / "loose"
    loose.mkdir(mode=0o755)
    conn = connect(loose)
    with transaction(conn):
        conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    for path in (loose, *loose.iterdir()):
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path
    conn.close()


def test_meta_values_round_trip_and_delete(data_dir):
    from station.store import get_meta, set_meta

    conn = connect(data_dir)
    assert get_meta(conn, "office_lock_reason") is None
    set_meta(conn, "office_lock_reason", "audit")
    set_meta(conn, "office_lock_reason", "audit 2")
    assert get_meta(conn, "office_lock_reason") == "audit 2"
    set_meta(conn, "office_lock_reason", None)
    assert get_meta(conn, "office_lock_reason") is None
    conn.close()
