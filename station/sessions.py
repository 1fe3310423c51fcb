"""Recording sessions: one operator, one desa, one stretch of work at a station.

A station has at most one open session. Opening a new one closes the previous (audited as ``superseded``), because
a kiosk moved to the next village must not keep recording under the last village's code. Every draft belongs to
a session, and the manifest names it.

These functions take the connection; callers sharing the station's connection hold ``station.db_lock``.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from station.audit import append_audit
from station.errors import JemputError
from station.outbox import iso, parse_iso, utc_now
from station.store import transaction

_KODE_DESA = re.compile(r"\d{2}\.\d{2}\.\d{2}\.\d{4}")


class OperatorLike(Protocol):
    """What we need of ``station.operators.Operator``."""

    id: int
    username: str


class SessionError(JemputError):
    """A session cannot be opened or closed as asked."""


@dataclass(frozen=True)
class SessionInfo:
    id: str
    kode_desa: str
    operator_id: int
    opened_at: datetime
    closed_at: datetime | None


def open_session(conn: sqlite3.Connection, kode_desa: str, operator: OperatorLike) -> SessionInfo:
    """Open a session for ``kode_desa`` (``PP.KK.CC.DDDD``), closing any session still open."""
    if not _KODE_DESA.fullmatch(kode_desa):
        raise SessionError(f"kode desa must look like PP.KK.CC.DDDD, got {kode_desa!r}")
    now = utc_now()
    session_id = str(uuid.uuid4())
    with transaction(conn):
        for row in conn.execute("SELECT id FROM sessions WHERE closed_at IS NULL").fetchall():
            conn.execute("UPDATE sessions SET closed_at = ? WHERE id = ?", (iso(now), row[0]))
            append_audit(conn, operator.username, "session.close", {"session_id": row[0], "reason": "superseded"})
        conn.execute(
            "INSERT INTO sessions (id, kode_desa, operator_id, opened_at) VALUES (?, ?, ?, ?)",
            (session_id, kode_desa, operator.id, iso(now)),
        )
        append_audit(conn, operator.username, "session.open", {"session_id": session_id, "kode_desa": kode_desa})
    return SessionInfo(session_id, kode_desa, operator.id, now, None)


def close_session(conn: sqlite3.Connection, session_id: str, operator: OperatorLike) -> None:
    """Close an open session; closing one already closed is an error (it says when)."""
    with transaction(conn):
        row = conn.execute("SELECT closed_at FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionError(f"no session {session_id}")
        if row[0] is not None:
            raise SessionError(f"session {session_id} was already closed at {row[0]}")
        conn.execute("UPDATE sessions SET closed_at = ? WHERE id = ?", (iso(utc_now()), session_id))
        append_audit(conn, operator.username, "session.close", {"session_id": session_id, "reason": "closed"})


def current_session(conn: sqlite3.Connection) -> SessionInfo | None:
    row = conn.execute(
        "SELECT * FROM sessions WHERE closed_at IS NULL ORDER BY opened_at DESC LIMIT 1"
    ).fetchone()
    return _info(row) if row else None


def get_session(conn: sqlite3.Connection, session_id: str) -> SessionInfo | None:
    row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return _info(row) if row else None


def enrolled_in_session(conn: sqlite3.Connection, session_id: str) -> int:
    """Records finished (in the outbox) during the session: the ``enrolled`` figure of the status message."""
    return conn.execute("SELECT COUNT(*) FROM outbox WHERE session_id = ?", (session_id,)).fetchone()[0]


def _info(row: sqlite3.Row) -> SessionInfo:
    return SessionInfo(row["id"], row["kode_desa"], row["operator_id"], parse_iso(row["opened_at"]),
                       parse_iso(row["closed_at"]))
