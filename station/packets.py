"""Record packets (``<packet-id>.jpk``): seal, build, verify and open. Format: docs/packet-format.md.

A packet is a ZIP archive in a deliberately narrow profile (stored entries only, no extra fields, no comments, local
headers identical to the central directory, nothing between or after the entries) holding parts each encrypted
with age to the office, plus ``envelope.json`` in clear and ``envelope.sig``, the station's Ed25519 signature over
the exact bytes of ``envelope.json``. The narrow profile is what lets the office refuse every altered byte: we parse
the ZIP ourselves instead of trusting ``zipfile``, which ignores most of the local header. The office verifies
signature, sizes and hashes without any private key; only ``open_packet`` needs the office identity.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.errors import IntegrityError
from station.fingers import Finger
from station.packet_zip import MAX_ENTRIES, MAX_PACKET_BYTES, ZipProfileError, read_zip, write_zip

PACKET_SCHEMA = "jemput.packet/1"
MANIFEST_SCHEMA = "jemput.manifest/1"
ENVELOPE_NAME = "envelope.json"
SIGNATURE_NAME = "envelope.sig"
MANIFEST_PART = "manifest.json.age"
PART_NAMES: frozenset[str] = frozenset(
    {MANIFEST_PART, "photo.jpg.age", "signature.json.age", "signature.png.age"}
    | {f"{finger.part_name}.age" for finger in Finger}
    | {f"fingers/{finger.code}.png.age" for finger in Finger}
)
"""Every sealed part a v1 packet may hold: ``fingers/NN.jxl.age`` (JPEG XL, written now) or ``fingers/NN.png.age``
(PNG, packets sealed before) with the ISO finger position code; never both for one finger."""

MAX_ENVELOPE_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024

_UUID7_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_STATION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class PacketError(IntegrityError):
    """A packet failed a check; the message names the entry or part and the check."""


@dataclass(frozen=True)
class PartInfo:
    name: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Envelope:
    packet_id: str
    station: str
    created: datetime
    parts: tuple[PartInfo, ...]


@dataclass(frozen=True)
class OpenedPacket:
    envelope: Envelope
    manifest: dict[str, Any]
    files: dict[str, bytes]
    """Plaintext files by name without ``.age`` (``photo.jpg``, ``fingers/02.png``); the manifest is not repeated."""


# -- packet ids ----------------------------------------------------------------------------------------------------

_uuid_lock = threading.Lock()
_uuid_last = [0, 0]  # last unix ms, last 12-bit counter


def new_packet_id() -> str:
    """A UUIDv7 (RFC 9562 §5.7): 48-bit Unix ms, then a 12-bit counter (method 1, §6.2) and 62 random bits.

    Time-ordered ids keep the outbox and the office's packet table in creation order; the counter keeps ids from
    one process strictly increasing even within one millisecond.
    """
    with _uuid_lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _uuid_last[0]:
            _uuid_last[0], _uuid_last[1] = now_ms, int.from_bytes(os.urandom(2)) & 0x7FF  # leave room to count
        else:
            _uuid_last[1] += 1
            if _uuid_last[1] > 0xFFF:  # counter exhausted: borrow the next millisecond
                _uuid_last[0], _uuid_last[1] = _uuid_last[0] + 1, 0
        unix_ms, counter = _uuid_last
    rand_b = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# -- sealing and building ------------------------------------------------------------------------------------------

def seal_part(plaintext: bytes, recipient: str | Sequence[str]) -> bytes:
    """Encrypt one part with age (binary format, X25519) to one office recipient ``age1...`` or several (the
    manifest goes to both the records and the biometrics identity, DESIGN §5)."""
    wanted = [recipient] if isinstance(recipient, str) else list(recipient)
    if not wanted:
        raise PacketError("no office recipient to seal to")
    try:
        parsed = [pyrage.x25519.Recipient.from_str(r) for r in wanted]
    except (pyrage.RecipientError, ValueError, TypeError):
        raise PacketError("office public key is not a valid age X25519 recipient (age1...)") from None
    return pyrage.encrypt(bytes(plaintext), parsed)


def build_packet(
    *,
    packet_id: str,
    station_id: str,
    created: datetime,
    sealed_parts: Mapping[str, bytes],
    signing_key: Ed25519PrivateKey,
) -> bytes:
    """Assemble the signed packet from already sealed parts (names end in ``.age``; see ``PART_NAMES``)."""
    if not _UUID7_RE.fullmatch(packet_id):
        raise PacketError(f"packet id {packet_id!r} is not a lowercase UUIDv7")
    if not _STATION_RE.fullmatch(station_id):
        raise PacketError(f"station id {station_id!r} is not valid")
    if created.tzinfo is None:
        raise PacketError("created must be a timezone-aware datetime")
    unknown = sorted(set(sealed_parts) - PART_NAMES)
    if unknown:
        raise PacketError(f"part {unknown[0]}: not a part name a v1 packet may hold")
    if MANIFEST_PART not in sealed_parts:
        raise PacketError(f"part {MANIFEST_PART}: missing")
    created_utc = created.astimezone(UTC).replace(microsecond=0)
    names = sorted(sealed_parts)
    envelope = {
        "schema": PACKET_SCHEMA,
        "packet_id": packet_id,
        "station": station_id,
        "created": created_utc.strftime(_CREATED_FORMAT),
        "parts": [
            {"name": n, "size_bytes": len(sealed_parts[n]), "sha256": hashlib.sha256(sealed_parts[n]).hexdigest()}
            for n in names
        ],
    }
    envelope_bytes = canonical_json(envelope)
    signature = base64.b64encode(signing_key.sign(envelope_bytes))
    entries = [(ENVELOPE_NAME, envelope_bytes), (SIGNATURE_NAME, signature)]
    entries += [(n, bytes(sealed_parts[n])) for n in names]
    data = write_zip(entries, created_utc)
    if len(data) > MAX_PACKET_BYTES:
        raise PacketError(f"packet would be {len(data)} bytes, over the {MAX_PACKET_BYTES}-byte limit")
    return data


def canonical_json(value: Any) -> bytes:
    """The one serialisation we sign: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def packet_sha256(data: bytes) -> str:
    """Hex SHA-256 of a whole packet file: what the upload metadata and the receipt carry."""
    return hashlib.sha256(data).hexdigest()


# -- reading, verifying, opening -----------------------------------------------------------------------------------

def read_envelope(data: bytes) -> Envelope:
    """Parse the ZIP and the clear envelope only: no signature or hash check (use ``verify_packet`` for that)."""
    entries = _read_zip(data)
    return _parse_envelope(_required(entries, ENVELOPE_NAME))


def verify_packet(data: bytes, station_key: Ed25519PublicKey) -> Envelope:
    """Check structure, the station's signature and every part's size and SHA-256; decrypts nothing."""
    return _verify(data, station_key)[0]


def open_packet(
    data: bytes, identity: str | pyrage.x25519.Identity, station_key: Ed25519PublicKey
) -> OpenedPacket:
    """Verify, decrypt every part and check each plaintext against the manifest. Needs an identity that opens
    every part: the *biometrics* identity (the manifest is sealed to it too)."""
    envelope, entries = _verify(data, station_key)
    identity = _identity(identity)
    plain = {p.name: _decrypt(p.name, entries[p.name], identity) for p in envelope.parts}
    manifest = _parse_manifest(plain.pop(MANIFEST_PART), envelope)
    files = {name.removesuffix(".age"): body for name, body in plain.items()}
    listed = manifest["files"]
    for name in sorted(set(files) | set(listed)):
        if name not in listed:
            raise PacketError(f"file {name}: in the packet but not listed in the manifest")
        if name not in files:
            raise PacketError(f"file {name}: listed in the manifest but not in the packet")
        entry = listed[name]
        if not isinstance(entry, dict) or entry.get("size_bytes") != len(files[name]):
            raise PacketError(f"file {name}: size does not match the manifest")
        if entry.get("sha256") != hashlib.sha256(files[name]).hexdigest():
            raise PacketError(f"file {name}: sha256 mismatch with the manifest")
    return OpenedPacket(envelope=envelope, manifest=manifest, files=files)


def open_manifest(data: bytes, identity: str | pyrage.x25519.Identity,
                  station_key: Ed25519PublicKey) -> tuple[Envelope, dict[str, Any]]:
    """Verify the packet and decrypt only ``manifest.json.age``: what the online office (records identity) reads.

    The biometric parts stay sealed; their plaintext hashes are in the manifest for whoever opens them later.
    """
    envelope, entries = _verify(data, station_key)
    manifest = _parse_manifest(_decrypt(MANIFEST_PART, entries[MANIFEST_PART], _identity(identity)), envelope)
    return envelope, manifest


def _identity(identity: str | pyrage.x25519.Identity) -> pyrage.x25519.Identity:
    if isinstance(identity, str):
        try:
            return pyrage.x25519.Identity.from_str(identity.strip())
        except (pyrage.IdentityError, ValueError):
            raise PacketError("office identity is not a valid age secret key (AGE-SECRET-KEY-1...)") from None
    return identity


def _verify(data: bytes, station_key: Ed25519PublicKey) -> tuple[Envelope, dict[str, bytes]]:
    entries = _read_zip(data)
    envelope_bytes = _required(entries, ENVELOPE_NAME)
    _check_signature(envelope_bytes, _required(entries, SIGNATURE_NAME), station_key)
    envelope = _parse_envelope(envelope_bytes)
    expected = {ENVELOPE_NAME, SIGNATURE_NAME} | {p.name for p in envelope.parts}
    extra, missing = sorted(set(entries) - expected), sorted(expected - set(entries))
    if extra:
        raise PacketError(f"unexpected entry {extra[0]} (not listed in the envelope)")
    if missing:
        raise PacketError(f"missing entry {missing[0]}")
    for part in envelope.parts:
        body = entries[part.name]
        if len(body) != part.size_bytes:
            raise PacketError(f"part {part.name}: size {len(body)} bytes, envelope says {part.size_bytes}")
        if hashlib.sha256(body).hexdigest() != part.sha256:
            raise PacketError(f"part {part.name}: sha256 mismatch")
    # Entry order (envelope.json, envelope.sig, parts by name) and every header field (DOS time and date of
    # `created` on each entry, versions, flags): the file must be exactly what the writer makes of these entries.
    order = [ENVELOPE_NAME, SIGNATURE_NAME, *(p.name for p in envelope.parts)]
    if list(entries) != order:
        raise PacketError("ZIP entries are not in packet order (envelope.json, envelope.sig, parts by name)")
    if write_zip(list(entries.items()), envelope.created) != bytes(data):
        raise PacketError("ZIP header fields (DOS time/date of created, versions) are not the packet profile's")
    return envelope, entries


def _required(entries: dict[str, bytes], name: str) -> bytes:
    if name not in entries:
        raise PacketError(f"missing entry {name}")
    return entries[name]


def _check_signature(envelope_bytes: bytes, sig_text: bytes, station_key: Ed25519PublicKey) -> None:
    try:
        signature = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    # Re-encoding must give the same text: otherwise unused trailing bits could change unnoticed.
    if len(signature) != 64 or base64.b64encode(signature) != sig_text:
        raise PacketError(f"{SIGNATURE_NAME} is not canonical base64 of a 64-byte Ed25519 signature")
    try:
        station_key.verify(signature, envelope_bytes)
    except InvalidSignature:
        raise PacketError("signature does not verify (wrong station key, or envelope altered)") from None


def _load_json(raw: bytes, what: str, limit: int) -> Any:
    if len(raw) > limit:
        raise PacketError(f"{what} is {len(raw)} bytes, over the {limit}-byte limit")
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as exc:
        raise PacketError(f"{what}: key {exc.args[0]!r} appears twice in one object") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PacketError(f"{what} is not valid UTF-8 JSON") from None


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Two readers must never see two different values: a JSON object with a repeated key is refused."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _parse_envelope(raw: bytes) -> Envelope:
    doc = _load_json(raw, ENVELOPE_NAME, MAX_ENVELOPE_BYTES)
    if not isinstance(doc, dict) or set(doc) != {"schema", "packet_id", "station", "created", "parts"}:
        raise PacketError(f"{ENVELOPE_NAME}: must be an object with schema, packet_id, station, created, parts")
    if doc["schema"] != PACKET_SCHEMA:
        raise PacketError(f"{ENVELOPE_NAME}: schema {doc['schema']!r} is not {PACKET_SCHEMA!r}")
    if not isinstance(doc["packet_id"], str) or not _UUID7_RE.fullmatch(doc["packet_id"]):
        raise PacketError(f"{ENVELOPE_NAME}: packet_id is not a lowercase UUIDv7")
    if not isinstance(doc["station"], str) or not _STATION_RE.fullmatch(doc["station"]):
        raise PacketError(f"{ENVELOPE_NAME}: station id is not valid")
    try:
        created = datetime.strptime(doc["created"], _CREATED_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise PacketError(f"{ENVELOPE_NAME}: created must be UTC 'YYYY-MM-DDTHH:MM:SSZ'") from None
    parts = doc["parts"]
    if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_ENTRIES - 2:
        raise PacketError(f"{ENVELOPE_NAME}: parts must be a list of 1 to {MAX_ENTRIES - 2} entries")
    infos = tuple(_parse_part(p) for p in parts)
    names = [p.name for p in infos]
    if len(set(names)) != len(names):
        raise PacketError(f"{ENVELOPE_NAME}: a part is listed twice")
    if names != sorted(names):
        raise PacketError(f"{ENVELOPE_NAME}: parts are not sorted by name")
    fingers = [n.split("/")[1][:2] for n in names if n.startswith("fingers/")]
    if len(set(fingers)) != len(fingers):
        raise PacketError(f"{ENVELOPE_NAME}: a finger is listed twice (as .jxl and .png)")
    if MANIFEST_PART not in names:
        raise PacketError(f"{ENVELOPE_NAME}: part {MANIFEST_PART} is not listed")
    return Envelope(packet_id=doc["packet_id"], station=doc["station"], created=created, parts=infos)


def _parse_part(raw: Any) -> PartInfo:
    if not isinstance(raw, dict) or set(raw) != {"name", "size_bytes", "sha256"}:
        raise PacketError(f"{ENVELOPE_NAME}: each part must be an object with name, size_bytes, sha256")
    name, size, digest = raw["name"], raw["size_bytes"], raw["sha256"]
    if not isinstance(name, str) or name not in PART_NAMES:
        raise PacketError(f"{ENVELOPE_NAME}: part name {name!r} is not a v1 part")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_PACKET_BYTES:
        raise PacketError(f"{ENVELOPE_NAME}: part {name}: size_bytes is not a valid size")
    if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
        raise PacketError(f"{ENVELOPE_NAME}: part {name}: sha256 is not 64 lowercase hex digits")
    return PartInfo(name=name, size_bytes=size, sha256=digest)


def _decrypt(name: str, body: bytes, identity: pyrage.x25519.Identity) -> bytes:
    try:
        return pyrage.decrypt(body, [identity])
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            raise PacketError(f"part {name}: decryption failed: wrong office key?") from None
        raise PacketError(f"part {name}: decryption failed ({exc})") from None


def _parse_manifest(raw: bytes, envelope: Envelope) -> dict[str, Any]:
    doc = _load_json(raw, "manifest.json", MAX_MANIFEST_BYTES)
    if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA:
        raise PacketError(f"manifest.json: schema is not {MANIFEST_SCHEMA!r}")
    if doc.get("packet_id") != envelope.packet_id:
        raise PacketError("manifest.json: packet_id differs from the envelope")
    if doc.get("station") != envelope.station:
        raise PacketError("manifest.json: station differs from the envelope")
    if not isinstance(doc.get("files"), dict):
        raise PacketError("manifest.json: files must be an object")
    return doc


def _read_zip(data: bytes) -> dict[str, bytes]:
    try:
        return read_zip(data)
    except ZipProfileError as exc:
        raise PacketError(str(exc)) from None


_write_zip = write_zip  # tests build hostile archives with it
