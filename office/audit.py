"""Hash-chained office audit log: every admin action (commands, acknowledgements, user changes, imports).

The same chain as the station's (``station.audit``): each row's ``hash`` is SHA-256 over the previous row's hash
followed by the canonical JSON of ``{seq, ts, actor, action, detail}``, so editing, deleting or reordering a row
breaks the chain from that row on and ``verify_office_audit`` names the first bad row. The office keeps the chain
head in ``office_meta`` so rows cut off the end are caught too. SQLAlchemy Core, so SQLite and PostgreSQL both work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from office.db import metadata
from station.audit import GENESIS_HASH, AuditVerdict, canonical_json, entry_hash

HEAD_KEY = "audit_head"

office_audit = sa.Table(
    "office_audit",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("detail_json", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

office_meta = sa.Table(
    "office_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class OfficeAuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    detail: dict[str, Any]


def append_office_audit(conn: sa.Connection, actor: str, action: str, detail: dict[str, Any] | None = None, *,
                        now: datetime | None = None) -> int:
    """Append one entry inside the caller's transaction (so the action and its row commit together)."""
    if conn.dialect.name == "postgresql":   # one writer at a time extends the chain
        conn.execute(sa.text("LOCK TABLE office_audit IN EXCLUSIVE MODE"))
    last = conn.execute(sa.select(office_audit.c.seq, office_audit.c.hash)
                        .order_by(office_audit.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    ts = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    detail_json = canonical_json(detail or {})
    digest = entry_hash(prev_hash, seq, ts, actor, action, json.loads(detail_json))
    conn.execute(office_audit.insert().values(seq=seq, ts=ts, actor=actor, action=action, detail_json=detail_json,
                                              prev_hash=prev_hash, hash=digest))
    head = f"{seq}:{digest}"
    if conn.execute(office_meta.update().where(office_meta.c.key == HEAD_KEY).values(value=head)).rowcount == 0:
        conn.execute(office_meta.insert().values(key=HEAD_KEY, value=head))
    return seq


def audit(engine: sa.Engine, actor: str, action: str, detail: dict[str, Any] | None = None) -> int:
    with engine.begin() as conn:
        return append_office_audit(conn, actor, action, detail)


def verify_office_audit(engine: sa.Engine) -> AuditVerdict:
    """Walk the chain in ``seq`` order and stop at the first row that does not fit."""
    expected, prev, checked = 1, GENESIS_HASH, 0
    with engine.connect() as conn:
        rows = conn.execute(sa.select(office_audit).order_by(office_audit.c.seq)).all()
        head = conn.execute(sa.select(office_meta.c.value).where(office_meta.c.key == HEAD_KEY)).scalar()
    for r in rows:
        if r.seq != expected:
            return AuditVerdict(False, checked, r.seq, f"expected seq {expected}, found {r.seq}")
        if r.prev_hash != prev:
            return AuditVerdict(False, checked, r.seq, "prev_hash does not match the previous row's hash")
        if entry_hash(prev, r.seq, r.ts, r.actor, r.action, json.loads(r.detail_json)) != r.hash:
            return AuditVerdict(False, checked, r.seq, "hash does not match the row's contents (row edited)")
        checked, expected, prev = checked + 1, r.seq + 1, r.hash
    if checked and head != f"{expected - 1}:{prev}":
        return AuditVerdict(False, checked, expected - 1, "the chain head does not match the last row (rows cut?)")
    return AuditVerdict(True, checked, None, "ok")


def recent_office_audit(engine: sa.Engine, limit: int = 100) -> list[OfficeAuditEntry]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(office_audit).order_by(office_audit.c.seq.desc()).limit(limit)).all()
    return [OfficeAuditEntry(r.seq, r.ts, r.actor, r.action, json.loads(r.detail_json)) for r in rows]
