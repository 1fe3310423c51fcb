"""Enrollment drafts as stored: the step reached, the demographic fields, capture metadata and sealed parts.

A draft is one ``drafts`` row (``step`` + ``state_json``) plus one ``draft_parts`` row per accepted capture, each
holding the capture already sealed to the office and, in ``meta_json``, the plaintext's SHA-256 and size (the
manifest needs them, and the plaintext is gone by the time the record is finished). Every change is one
transaction, so a draft read back after a power cut is exactly the last action that returned.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from station.fingers import CAPTURE_ORDER, Finger
from station.outbox import iso, parse_iso
from station.roster import Resident


class Step(StrEnum):
    CONFIRM = "confirm"
    PHOTO = "photo"
    FINGERPRINTS = "fingerprints"
    SIGNATURE = "signature"
    REVIEW = "review"
    DONE = "done"

    @property
    def index(self) -> int:
        return list(Step).index(self)


class DraftStatus(StrEnum):
    ACTIVE = "active"
    FINISHED = "finished"
    CANCELLED = "cancelled"


PHOTO_PART = "photo.jpg"
SIGNATURE_JSON_PART = "signature.json"
SIGNATURE_PNG_PART = "signature.png"


@dataclass(frozen=True)
class Draft:
    id: str
    session_id: str
    nik: str
    resident: Resident
    operator_id: int
    step: Step
    consent_given_at: datetime | None
    photo: dict | None
    """Quality metadata of the accepted photo (the image itself is only in the sealed part)."""
    fingers: dict[Finger, dict]
    """Per finger: score, attempts, force_captured, exception (None or {reason, confirmed_by})."""
    signature: dict | None
    next_finger: Finger | None
    status: DraftStatus = DraftStatus.ACTIVE
    operator_username: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    parts: frozenset[str] = field(default_factory=frozenset)
    """Names of the sealed parts stored, e.g. ``photo.jpg``, ``fingers/02.png``."""


def resident_to_dict(resident: Resident) -> dict[str, str]:
    born = resident.tanggal_lahir
    return {
        "nik": resident.nik, "nama": resident.nama,
        "tanggal_lahir": born.isoformat() if isinstance(born, date) else str(born),
        "jenis_kelamin": resident.jenis_kelamin, "kode_desa": resident.kode_desa, "alamat": resident.alamat,
    }


def resident_from_dict(data: dict[str, str]) -> Resident:
    return Resident(
        nik=data["nik"], nama=data["nama"], tanggal_lahir=date.fromisoformat(data["tanggal_lahir"]),
        jenis_kelamin=data["jenis_kelamin"], kode_desa=data["kode_desa"], alamat=data["alamat"],
    )


def next_finger(fingers: dict[str, dict]) -> Finger | None:
    """The first finger in capture order with neither a capture nor an exception."""
    for finger in CAPTURE_ORDER:
        if finger.code not in fingers:
            return finger
    return None


def first_incomplete(state: dict[str, Any]) -> Step:
    """Where the workflow stands: the earliest step whose work is missing (after a redo, the flow returns here)."""
    if not state.get("consent_given_at"):
        return Step.CONFIRM
    if state.get("photo") is None:
        return Step.PHOTO
    if next_finger(state["fingers"]) is not None:
        return Step.FINGERPRINTS
    if state.get("signature") is None:
        return Step.SIGNATURE
    return Step.REVIEW


def new_state(resident: Resident, operator_id: int, operator_username: str) -> dict[str, Any]:
    return {
        "resident": resident_to_dict(resident),
        "operator": {"id": operator_id, "username": operator_username},
        "consent_given_at": None, "photo": None, "fingers": {}, "signature": None,
    }


class DraftRepo:
    """SQL for drafts and their parts; the caller owns transactions and the lock."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def insert(self, *, draft_id: str, session_id: str, nik: str, operator_id: int, state: dict,
               now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO drafts (id, session_id, nik, operator_id, step, state_json, status, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)",
            (draft_id, session_id, nik, operator_id, Step.CONFIRM.value, json.dumps(state), iso(now), iso(now)),
        )

    def row(self, draft_id: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM drafts WHERE id = ?", (draft_id,)).fetchone()

    def active_ids(self) -> list[str]:
        rows = self.conn.execute("SELECT id FROM drafts WHERE status = 'active' ORDER BY created_at")
        return [r[0] for r in rows]

    def active_for_nik(self, nik: str) -> str | None:
        row = self.conn.execute("SELECT id FROM drafts WHERE nik = ? AND status = 'active'", (nik,)).fetchone()
        return row[0] if row else None

    def save(self, draft_id: str, step: Step, state: dict, now: datetime,
             status: DraftStatus = DraftStatus.ACTIVE) -> None:
        self.conn.execute(
            "UPDATE drafts SET step = ?, state_json = ?, status = ?, updated_at = ? WHERE id = ?",
            (step.value, json.dumps(state), status.value, iso(now), draft_id),
        )

    def put_part(self, draft_id: str, name: str, sealed: bytes, meta: dict, now: datetime) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO draft_parts (draft_id, name, sealed, meta_json, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (draft_id, name, sealed, json.dumps(meta), iso(now)),
        )

    def delete_parts(self, draft_id: str, names: list[str] | None = None) -> None:
        if names is None:
            self.conn.execute("DELETE FROM draft_parts WHERE draft_id = ?", (draft_id,))
            return
        self.conn.executemany("DELETE FROM draft_parts WHERE draft_id = ? AND name = ?",
                              [(draft_id, n) for n in names])

    def part_names(self, draft_id: str) -> frozenset[str]:
        rows = self.conn.execute("SELECT name FROM draft_parts WHERE draft_id = ?", (draft_id,))
        return frozenset(r[0] for r in rows)

    def parts(self, draft_id: str) -> dict[str, tuple[bytes, dict]]:
        """name -> (sealed bytes, plaintext meta {sha256, size_bytes})."""
        rows = self.conn.execute("SELECT name, sealed, meta_json FROM draft_parts WHERE draft_id = ?", (draft_id,))
        return {r[0]: (bytes(r[1]), json.loads(r[2])) for r in rows}

    def load(self, draft_id: str) -> tuple[Draft, dict] | None:
        """The draft and its raw state dict, or None."""
        row = self.row(draft_id)
        if row is None:
            return None
        state = json.loads(row["state_json"])
        fingers = {Finger(int(code)): dict(meta) for code, meta in state["fingers"].items()}
        draft = Draft(
            id=row["id"], session_id=row["session_id"], nik=row["nik"],
            resident=resident_from_dict(state["resident"]), operator_id=row["operator_id"],
            step=Step(row["step"]), consent_given_at=parse_iso(state.get("consent_given_at")),
            photo=state.get("photo"), fingers=fingers, signature=state.get("signature"),
            next_finger=next_finger(state["fingers"]), status=DraftStatus(row["status"]),
            operator_username=state["operator"]["username"], created_at=parse_iso(row["created_at"]),
            updated_at=parse_iso(row["updated_at"]), parts=self.part_names(draft_id),
        )
        return draft, state
