"""Short record codes: what a resident or operator reads out instead of a 36-character packet id.

``JK7M-2QXA``: 8 characters of Crockford base32 (no I, L, O, U: nothing to confuse when read aloud or written by
hand) taken from SHA-256 of the packet id, so anyone holding the packet id can recompute it. The station keeps
the codes it gave out in ``record_codes`` and, on the rare collision with another packet (40 bits), derives the
next candidate (``packet_id#1``, ...), so a code names one record of this station.
"""

from __future__ import annotations

import hashlib
import sqlite3

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_CHARS = 8

_SCHEMA = """CREATE TABLE IF NOT EXISTS record_codes (
  packet_id TEXT PRIMARY KEY,
  code TEXT NOT NULL UNIQUE
)"""


def derive_code(packet_id: str, attempt: int = 0) -> str:
    """The ``attempt``-th candidate code for ``packet_id`` (0 is what almost every record gets)."""
    seed = packet_id if attempt == 0 else f"{packet_id}#{attempt}"
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:5], "big")
    chars = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(CODE_CHARS)))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_code(text: str) -> str:
    """What a person typed (lower case, O for 0, I/L for 1, no dash) in the canonical ``XXXX-XXXX`` form."""
    raw = text.strip().upper().replace("-", "").replace(" ", "")
    raw = raw.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == CODE_CHARS else text.strip().upper()


def ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(_SCHEMA)


def code_for(conn: sqlite3.Connection, packet_id: str) -> str:
    """The record's code, assigned on first use and kept (the caller holds the station's db lock)."""
    ensure_table(conn)
    row = conn.execute("SELECT code FROM record_codes WHERE packet_id = ?", (packet_id,)).fetchone()
    if row is not None:
        return str(row[0])
    attempt = 0
    while True:
        code = derive_code(packet_id, attempt)
        taken = conn.execute("SELECT packet_id FROM record_codes WHERE code = ?", (code,)).fetchone()
        if taken is None:
            conn.execute("INSERT INTO record_codes (packet_id, code) VALUES (?, ?)", (packet_id, code))
            return code
        attempt += 1


def codes_for(conn: sqlite3.Connection, packet_ids: list[str]) -> dict[str, str]:
    """Codes for many records at once (the queue and report lists)."""
    return {packet_id: code_for(conn, packet_id) for packet_id in packet_ids}


def packet_for_code(conn: sqlite3.Connection, code: str) -> str | None:
    ensure_table(conn)
    row = conn.execute("SELECT packet_id FROM record_codes WHERE code = ?", (normalise_code(code),)).fetchone()
    return str(row[0]) if row else None
