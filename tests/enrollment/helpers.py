"""Payloads and a driver that walks a draft through every step (shared by the tests and the crash child)."""

from __future__ import annotations

import os
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import date

from station.enrollment import EnrollmentService
from station.fingers import CAPTURE_ORDER, Finger
from station.operators import add_operator, list_operators
from station.roster import Resident
from station.sessions import current_session, open_session

KODE_DESA = "61.06.01.2001"


def make_resident(n: int) -> Resident:
    """A resident with a well-formed, distinct NIK for each n < 279972 (Kapuas Hulu, born January 1990)."""
    day, serial = 1 + (n // 9999) % 28, n % 9999 + 1
    return Resident(nik=f"610601{day:02d}0190{serial:04d}", nama=f"Warga {n}",
                    tanggal_lahir=date(1990, 1, 15), jenis_kelamin="L", kode_desa=KODE_DESA, alamat="Jl. Sungai 1")


def marked(tag: bytes, size: int, rng: random.Random | None = None) -> bytes:
    """Distinctive random bytes: a tag then random data (what the plaintext scan looks for)."""
    n = max(0, size - len(tag))
    return tag + (rng.randbytes(n) if rng else os.urandom(n))


@dataclass
class Payloads:
    photo: bytes
    fingers: dict[Finger, bytes]
    points: list[dict]
    signature_png: bytes
    skip: dict[Finger, str] = field(default_factory=dict)

    @classmethod
    def random(cls, size: int = 2048, seed: int | None = None) -> Payloads:
        rng = random.Random(seed)
        gen = rng if seed is not None else None
        points = [{"x": rng.randint(0, 4095), "y": rng.randint(0, 4095), "pressure": rng.randint(0, 1023),
                   "pen_down": rng.random() > 0.1, "t": round(rng.random() * 1e6, 6)} for _ in range(300)]
        return cls(photo=marked(b"\xff\xd8PHOTO", size * 4, gen),
                   fingers={f: marked(b"\x89PNG" + f.code.encode(), size, gen) for f in CAPTURE_ORDER},
                   points=points, signature_png=marked(b"\x89PNGSIG", size, gen))


def ensure_operator(conn: sqlite3.Connection, username: str = "siti"):
    for op in list_operators(conn):
        if op.username == username:
            return op
    return add_operator(conn, username, "Siti Aminah", "1357")


def ensure_session(conn: sqlite3.Connection, operator) -> str:
    session = current_session(conn)
    return session.id if session else open_session(conn, KODE_DESA, operator).id


def run_to_review(service: EnrollmentService, draft_id: str, payloads: Payloads, operator=None) -> None:
    """Drive the draft from wherever it stands to the review step."""
    draft = service.get(draft_id)
    while draft.step.value != "review":
        step = draft.step.value
        if step == "confirm":
            draft = service.confirm(draft_id, consent=True)
        elif step == "photo":
            draft = service.accept_photo(draft_id, payloads.photo, {"passed": True, "sharpness": 0.8})
        elif step == "fingerprints":
            finger = draft.next_finger
            if finger in payloads.skip:
                draft = service.record_finger_exception(draft_id, finger, payloads.skip[finger],
                                                        confirmed_by=operator)
            else:
                draft = service.accept_finger(draft_id, finger, payloads.fingers[finger], score=70 + finger.value,
                                              attempts=1, force_captured=False)
        elif step == "signature":
            draft = service.accept_signature(draft_id, payloads.points, payloads.signature_png, {"passed": True})
        else:
            raise AssertionError(f"unexpected step {step}")
