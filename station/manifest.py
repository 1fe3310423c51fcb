"""The packet manifest (``manifest.json`` inside ``manifest.json.age``), built from a finished draft.

Schema ``jemput.manifest/1`` as agreed with the packet format (docs/packet-format.md): who recorded whom, where,
with what capture quality and exceptions, and the plaintext SHA-256 and size of every file in the packet, taken
when each capture was accepted (the plaintext is long gone by now).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from station.drafts import Draft
from station.outbox import iso

MANIFEST_SCHEMA = "jemput.manifest/1"


def build_manifest(*, packet_id: str, station_id: str, draft: Draft, state: dict[str, Any], session_kode_desa: str,
                   files: dict[str, dict], finished: datetime, software_version: str) -> dict[str, Any]:
    fingers = {
        code: {"score": meta.get("score"), "attempts": meta.get("attempts", 0),
               "force_captured": bool(meta.get("force_captured")), "exception": meta.get("exception")}
        for code, meta in sorted(state["fingers"].items())
    }
    return {
        "schema": MANIFEST_SCHEMA,
        "packet_id": packet_id,
        "station": station_id,
        "operator": dict(state["operator"]),
        "session": {"id": draft.session_id, "kode_desa": session_kode_desa},
        "resident": dict(state["resident"]),
        "consent": {"given_at": state["consent_given_at"]},
        "captures": {"photo": dict(state["photo"] or {}), "fingers": fingers,
                     "signature": dict(state["signature"] or {})},
        "created": iso(draft.created_at) if draft.created_at else None,
        "finished": iso(finished),
        "software_version": software_version,
        "files": {name: {"sha256": meta["sha256"], "size_bytes": meta["size_bytes"]}
                  for name, meta in sorted(files.items())},
    }
