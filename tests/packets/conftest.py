"""Fixtures for packet tests: one office identity and one station key per test session (key generation is cheap,
but sharing keeps hypothesis examples fast), and a builder for realistic packets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from station import keys, packets

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 20 + b"\xff\xd9"
FINGER = b"\x89PNG\r\n\x1a\n" + b"ridge" * 300
SIGNATURE_JSON = json.dumps([{"x": 10, "y": 20, "pen_down": True, "t": 0.0}]).encode()
SIGNATURE_PNG = b"\x89PNG\r\n\x1a\n" + b"ink" * 100


def make_manifest(packet_id: str, station: str, files: dict[str, bytes]) -> dict:
    return {
        "schema": packets.MANIFEST_SCHEMA,
        "packet_id": packet_id,
        "station": station,
        "operator": {"id": 1, "username": "siti"},
        "session": {"id": "s-1", "kode_desa": "61.06.01.2001"},
        "resident": {"nik": "6106014508990001", "nama": "Siti Aminah", "tanggal_lahir": "1999-08-05",
                     "jenis_kelamin": "P", "kode_desa": "61.06.01.2001", "alamat": "Jl. Lintas Putussibau"},
        "consent": {"given_at": "2026-11-29T08:00:00Z"},
        "captures": {"photo": {"passed": True}, "fingers": {"02": {"score": 71, "attempts": 1,
                                                                    "force_captured": False, "exception": None}},
                     "signature": {"passed": True}},
        "created": "2026-11-29T08:00:00Z",
        "finished": "2026-11-29T08:04:00Z",
        "software_version": "0.1.0",
        "files": {name: {"sha256": hashlib.sha256(body).hexdigest(), "size_bytes": len(body)}
                  for name, body in files.items()},
    }


@pytest.fixture(scope="session")
def office_identity() -> tuple[str, str]:
    return keys.generate_age_identity()


@pytest.fixture(scope="session")
def station_key():
    return keys.generate_signing_key()


@pytest.fixture(scope="session")
def make_packet(office_identity, station_key) -> Callable[..., tuple[str, bytes]]:
    """Build a real packet: ``make_packet(manifest_edit=None, station="kph-01") -> (packet_id, bytes)``."""
    _, recipient = office_identity

    def build(*, manifest_edit: Callable[[dict], None] | None = None, station: str = "kph-01",
              signing_key=None, plain_files: dict[str, bytes] | None = None) -> tuple[str, bytes]:
        packet_id = packets.new_packet_id()
        files = plain_files if plain_files is not None else {
            "photo.jpg": PHOTO, "fingers/02.png": FINGER, "fingers/07.png": FINGER[::-1],
            "signature.json": SIGNATURE_JSON, "signature.png": SIGNATURE_PNG}
        manifest = make_manifest(packet_id, station, files)
        if manifest_edit:
            manifest_edit(manifest)
        sealed = {f"{name}.age": packets.seal_part(body, recipient) for name, body in files.items()}
        sealed[packets.MANIFEST_PART] = packets.seal_part(json.dumps(manifest).encode(), recipient)
        data = packets.build_packet(packet_id=packet_id, station_id=station,
                                    created=datetime(2026, 11, 29, 8, 4, 0, tzinfo=UTC), sealed_parts=sealed,
                                    signing_key=signing_key or station_key)
        return packet_id, data

    return build


@pytest.fixture(scope="session")
def sample_packet(make_packet) -> tuple[str, bytes]:
    return make_packet()
