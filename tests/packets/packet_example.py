"""The example of docs/packet-format.md §8, made by the real code so the document cannot drift from the bytes.

``python -m tests.packets.packet_example --write`` builds ``fixtures/example.jpk`` (sealed with the test-only
identity ``fixtures/example-office.age``, signed with a key derived from a fixed seed) and rewrites the doc's
example section from it; ``test_format_doc`` checks that the section is still exactly ``render_example()``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station import keys, packets
from station.manifest import build_manifest
from station.packet_zip import read_zip

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "packet-format.md"
FIXTURES = Path(__file__).with_name("fixtures")
PACKET = FIXTURES / "example.jpk"
IDENTITY = FIXTURES / "example-office.age"
BEGIN = "<!-- example:begin (generated: python -m tests.packets.packet_example --write) -->"
END = "<!-- example:end -->"
CREATED = datetime(2026, 11, 29, 8, 4, 0, tzinfo=UTC)


def station_key() -> Ed25519PrivateKey:
    """The example station's key: derived from a fixed seed, so anyone can check the example's signature."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"jemput example station kph-01").digest())


def packet_id_at(when: datetime, counter: int = 0x2A5, rand_b: int = 0x0DE190CE65DC7ABC) -> str:
    """A UUIDv7 whose 48-bit time is ``when`` (so the id's time and ``created`` agree, as on a station)."""
    unix_ms = int(when.timestamp() * 1000)
    value = unix_ms << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | (rand_b & ((1 << 62) - 1))
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def build_example(recipient: str) -> bytes:
    """A record with only its manifest (the format allows it; a real one also has photo, fingers, signature)."""
    packet_id = packet_id_at(CREATED)
    started = CREATED - timedelta(minutes=3, seconds=47, microseconds=-512_311)
    state = {
        "operator": {"id": 1, "username": "siti"},
        "resident": {"nik": "6106014508990001", "nama": "Siti Aminah", "tanggal_lahir": "1999-08-05",
                     "jenis_kelamin": "P", "kode_desa": "61.06.01.2001", "alamat": "Jl. Lintas Putussibau"},
        "consent_given_at": (started + timedelta(seconds=21)).isoformat(timespec="microseconds"),
        "photo": None,
        "fingers": {"01": {"score": None, "attempts": 0, "force_captured": False,
                           "exception": {"reason": "amputated", "confirmed_by": "siti", "confirmed_by_id": 1}}},
        "signature": None,
    }
    draft = types.SimpleNamespace(session_id="0192f0c0-7b1e-7c3a-9d2e-5f0a1b2c3d4e", created_at=started)
    manifest = build_manifest(packet_id=packet_id, station_id="kph-01", draft=draft, state=state,
                              session_kode_desa="61.06.01.2001", files={}, finished=CREATED, software_version="0.1.0")
    sealed = {"manifest.json.age": packets.seal_part(json.dumps(manifest, sort_keys=True).encode(), recipient)}
    return packets.build_packet(packet_id=packet_id, station_id="kph-01", created=CREATED, sealed_parts=sealed,
                                signing_key=station_key())


def render_example(data: bytes, identity: str) -> str:
    """The doc's §8 body for the packet ``data``: listing, exact envelope bytes, signature, key, manifest."""
    entries = read_zip(data)
    envelope = entries["envelope.json"]
    opened = packets.open_packet(data, identity, station_key().public_key())
    date = CREATED.strftime("%m-%d-%Y %H:%M")
    rows = [f"{len(body):>8}  Stored {len(body):>8}   0% {date} {zlib.crc32(body):08x}  {name}"
            for name, body in entries.items()]
    plain = packets.pyrage.decrypt(entries["manifest.json.age"], [packets.pyrage.x25519.Identity.from_str(identity)])
    lines = [
        BEGIN,
        f"A record holding only its manifest, `{opened.envelope.packet_id}.jpk` ({len(data)} bytes; the file is",
        "`tests/packets/fixtures/example.jpk`, its office identity `tests/packets/fixtures/example-office.age` —",
        "test keys, never used anywhere else). The packet id's 48-bit time is `created` to the millisecond.",
        "",
        "```",
        f"$ unzip -lv {opened.envelope.packet_id}.jpk",
        "  Length  Method     Size  Cmpr    Date    Time   CRC-32   Name",
        *rows,
        "```",
        "",
        f"`envelope.json` (exact bytes, {len(envelope)} bytes, no trailing newline):",
        "",
        "```",
        envelope.decode("ascii"),
        "```",
        "",
        f"`envelope.sig` ({len(entries['envelope.sig'])} bytes), by the station key whose public half (base64 raw)"
        f" is `{keys.public_key_b64(station_key())}`:",
        "",
        "```",
        entries["envelope.sig"].decode("ascii"),
        "```",
        "",
        f"`manifest.json` after decryption (exact bytes, {len(plain)}; the station writes `json.dumps(manifest,",
        "sort_keys=True)`, so with spaces after `,` and `:`):",
        "",
        "```",
        plain.decode("utf-8"),
        "```",
        END,
    ]
    return "\n".join(lines)


def doc_section(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def write() -> None:
    """Regenerate the fixture and the doc section (run after a deliberate format change)."""
    FIXTURES.mkdir(exist_ok=True)
    if not IDENTITY.exists():
        secret, recipient = keys.generate_age_identity()
        IDENTITY.write_text(f"# created by jemput office init\n# public key: {recipient}\n{secret}\n")
    identity = keys.load_age_identity(IDENTITY)
    data = build_example(keys.age_recipient_of(identity))
    PACKET.write_bytes(data)
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(text.replace(doc_section(text), render_example(data, identity)), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.packets.packet_example --write")
    write()
