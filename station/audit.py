"""Hash-chained audit log of operator actions.

Each row's ``hash`` is SHA-256 over the previous row's hash followed by the canonical JSON of
``{seq, ts, actor, action, detail}``, so editing, deleting or reordering any row breaks the chain from that row on,
and ``verify_audit_chain`` names the first row that no longer fits. The newest ``seq:hash`` is also kept in
``meta`` (key ``audit_head``), which catches rows cut off the end. This detects tampering with the SD card
copy; it does not stop someone who can rewrite the whole chain (the packets sent to the office are the record).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from station.store import transaction

GENESIS_HASH = "0" * 64
HEAD_KEY = "audit_head"


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    rows_checked: int
    first_bad_seq: int | None
    reason: str


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    detail: dict[str, Any]


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, seq: int, ts: str, actor: str, action: str, detail: Any) -> str:
    body = canonical_json({"seq": seq, "ts": ts, "actor": actor, "action": action, "detail": detail})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append_audit(conn: sqlite3.Connection, actor: str, action: str, detail: dict[str, Any] | None = None, *,
                 now: datetime | None = None) -> int:
    """Append one entry and return its ``seq``.

    Inside the caller's open transaction the entry commits (or rolls back) with the caller's work, so an action
    and its audit row are never separated; otherwise it runs in its own transaction.
    """
    if conn.in_transaction:
        return _append(conn, actor, action, detail or {}, now)
    with transaction(conn):
        return _append(conn, actor, action, detail or {}, now)


def _append(conn: sqlite3.Connection, actor: str, action: str, detail: dict[str, Any],
            now: datetime | None) -> int:
    last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    ts = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    detail_json = canonical_json(detail)
    digest = entry_hash(prev_hash, seq, ts, actor, action, json.loads(detail_json))
    conn.execute(
        "INSERT INTO audit_log (seq, ts, actor, action, detail_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, ts, actor, action, detail_json, prev_hash, digest),
    )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (HEAD_KEY, f"{seq}:{digest}"),
    )
    return seq


def verify_audit_chain(conn: sqlite3.Connection) -> AuditVerdict:
    """Walk the whole chain in ``seq`` order; stop at the first row that does not fit."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    rows = conn.execute(
        "SELECT seq, ts, actor, action, detail_json, prev_hash, hash FROM audit_log ORDER BY seq"
    )
    for seq, ts, actor, action, detail_json, stored_prev, stored_hash in rows:
        reason = _row_problem(seq, expected_seq, prev_hash, ts, actor, action, detail_json, stored_prev, stored_hash)
        if reason:
            return AuditVerdict(False, checked, seq, reason)
        checked += 1
        expected_seq, prev_hash = seq + 1, stored_hash
    head = conn.execute("SELECT value FROM meta WHERE key = ?", (HEAD_KEY,)).fetchone()
    if head is not None and head[0] != f"{expected_seq - 1}:{prev_hash}":
        head_seq = int(head[0].split(":", 1)[0])
        if head_seq > expected_seq - 1:
            return AuditVerdict(False, checked, expected_seq, f"rows {expected_seq}..{head_seq} are missing at the end")
        return AuditVerdict(False, checked, expected_seq - 1, "last row does not match the recorded chain head")
    if head is None and checked:
        return AuditVerdict(False, checked, expected_seq - 1, "chain head record is missing")
    return AuditVerdict(True, checked, None, "ok")


def _row_problem(seq: int, expected_seq: int, prev_hash: str, ts: str, actor: str, action: str, detail_json: str,
                 stored_prev: str, stored_hash: str) -> str:
    if seq != expected_seq:
        return f"expected seq {expected_seq}, found {seq} (rows missing or reordered)"
    if stored_prev != prev_hash:
        return "prev_hash does not match the previous row's hash (row deleted, inserted or reordered)"
    try:
        detail = json.loads(detail_json)
    except ValueError:
        return "detail is not valid JSON"
    if entry_hash(prev_hash, seq, ts, actor, action, detail) != stored_hash:
        return "hash does not match the row's contents (row edited)"
    return ""


def recent_audit(conn: sqlite3.Connection, limit: int = 50) -> list[AuditEntry]:
    """Newest entries first, for the supervisor screen and ``jemput audit list``."""
    rows = conn.execute(
        "SELECT seq, ts, actor, action, detail_json FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,)
    ).fetchall()
    return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]
