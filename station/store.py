"""The station's SQLite store.

One file in ``data_dir`` (``jemput.db``) holds operators, the roster, sessions, enrollment drafts (with their
already-sealed captures), the outbox and the audit log. It is opened in WAL mode with ``synchronous=FULL`` so a
commit that returned is on the SD card even if the power is cut a moment later, and with foreign keys on.
Schema versions live in ``PRAGMA user_version``; ``MIGRATIONS[i]`` moves version ``i`` to ``i + 1`` and runs in
one transaction, so a station upgraded in the field either has the new schema or the old one, never half.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from station.errors import JemputError, StorageFull

DB_NAME = "jemput.db"

# Each entry upgrades the schema by one version. Never edit a released entry; append a new one.
MIGRATIONS: list[str] = [
    # v1 ---------------------------------------------------------------------------------------------------
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE operators (
        id              INTEGER PRIMARY KEY,
        username        TEXT NOT NULL UNIQUE,
        display_name    TEXT NOT NULL,
        pin_hash        TEXT NOT NULL,
        role            TEXT NOT NULL DEFAULT 'operator' CHECK (role IN ('operator', 'supervisor')),
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until    TEXT,
        active          INTEGER NOT NULL DEFAULT 1,
        created_at      TEXT NOT NULL
    );
    CREATE TABLE residents (
        nik           TEXT PRIMARY KEY,
        nama          TEXT NOT NULL,
        nama_key      TEXT NOT NULL,
        tanggal_lahir TEXT NOT NULL,
        jenis_kelamin TEXT NOT NULL CHECK (jenis_kelamin IN ('L', 'P')),
        kode_desa     TEXT NOT NULL,
        alamat        TEXT NOT NULL DEFAULT '',
        imported_at   TEXT NOT NULL
    );
    CREATE INDEX residents_nama_key ON residents (nama_key);
    CREATE INDEX residents_desa ON residents (kode_desa);
    -- One row per word start of a resident's normalised name ("siti nur aminah", "nur aminah", "aminah"), so a
    -- prefix search on any word is an index range scan; kode_desa is copied in to search within one desa.
    CREATE TABLE resident_name_tokens (
        token     TEXT NOT NULL,
        nik       TEXT NOT NULL REFERENCES residents (nik) ON DELETE CASCADE,
        kode_desa TEXT NOT NULL,
        PRIMARY KEY (token, nik)
    ) WITHOUT ROWID;
    CREATE INDEX resident_name_tokens_desa ON resident_name_tokens (kode_desa, token);
    CREATE INDEX resident_name_tokens_nik ON resident_name_tokens (nik);
    CREATE TABLE sessions (
        id          TEXT PRIMARY KEY,
        kode_desa   TEXT NOT NULL,
        operator_id INTEGER NOT NULL REFERENCES operators (id),
        opened_at   TEXT NOT NULL,
        closed_at   TEXT
    );
    CREATE TABLE drafts (
        id          TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions (id),
        nik         TEXT NOT NULL,
        operator_id INTEGER NOT NULL REFERENCES operators (id),
        step        TEXT NOT NULL,
        state_json  TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'finished', 'cancelled')),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE UNIQUE INDEX drafts_one_active_per_nik ON drafts (nik) WHERE status = 'active';
    CREATE TABLE draft_parts (
        draft_id   TEXT NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        sealed     BLOB NOT NULL,
        meta_json  TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (draft_id, name)
    );
    CREATE TABLE outbox (
        packet_id       TEXT PRIMARY KEY,
        nik             TEXT NOT NULL UNIQUE,
        session_id      TEXT REFERENCES sessions (id),
        state           TEXT NOT NULL CHECK (state IN ('sealed', 'uploading', 'acknowledged', 'purged')),
        path            TEXT NOT NULL,
        size_bytes      INTEGER NOT NULL,
        sha256          TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        upload_url      TEXT,
        upload_offset   INTEGER NOT NULL DEFAULT 0,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        acknowledged_at TEXT,
        receipt_json    TEXT,
        purged_at       TEXT
    );
    CREATE INDEX outbox_state_created ON outbox (state, created_at);
    CREATE TABLE audit_log (
        seq         INTEGER PRIMARY KEY,
        ts          TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        detail_json TEXT NOT NULL,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(JemputError):
    """The database was written by a newer Jemput; refusing to touch it rather than guess."""


def is_disk_full(exc: BaseException) -> bool:
    """True when SQLite or the OS says there is no room left to write."""
    text = str(exc).lower()
    return "database or disk is full" in text or "no space left" in text or getattr(exc, "errno", None) == 28


@contextmanager
def translate_disk_full() -> Iterator[None]:
    """Turn SQLite's and the OS's 'disk full' into ``StorageFull`` with a message a person can act on."""
    try:
        yield
    except (sqlite3.OperationalError, OSError) as exc:
        if is_disk_full(exc):
            raise StorageFull("storage is full: free space on the SD card (upload and purge records)") from exc
        raise


def connect(data_dir: Path) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the store in ``data_dir``.

    The connection is in autocommit mode (``isolation_level=None``); use ``transaction()`` for atomic work.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _make_private(data_dir, data_dir / DB_NAME)
    with translate_disk_full():
        conn = sqlite3.connect(
            data_dir / DB_NAME, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        migrate(conn)
    return conn


def _make_private(data_dir: Path, db_file: Path) -> None:
    """The store holds NIKs, names and PIN hashes: only the station's own user may read it. SQLite gives the
    -wal and -shm files the database file's mode, so creating that file 0600 covers them too."""
    os.chmod(data_dir, 0o700)
    fd = os.open(db_file, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(db_file, 0o600)


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    """Store ``value`` under ``key`` (``None`` deletes it), committed before returning."""
    with transaction(conn):
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                         "excluded.value", (key, value))


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction; returns the resulting version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this software supports ({SCHEMA_VERSION})"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with transaction(conn):
            # executescript would COMMIT our transaction; run statements one by one instead.
            for statement in _split_sql(MIGRATIONS[target - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
    return SCHEMA_VERSION


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error; disk-full becomes ``StorageFull``."""
    with translate_disk_full():
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # SQLite may already have rolled back (e.g. on "database or disk is full"); a second ROLLBACK
            # would raise and hide the real error.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")


def integrity_check(conn: sqlite3.Connection) -> str:
    """SQLite's own verdict on the file: ``'ok'`` or the first problem."""
    return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _split_sql(script: str) -> list[str]:
    statements, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate.endswith(";") and sqlite3.complete_statement(candidate):
            statements.append(candidate)
            buf = []
    tail = "\n".join(buf).strip()
    if tail:
        statements.append(tail)
    return statements
