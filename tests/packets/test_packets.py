"""Packets: round trip, and every kind of damage or forgery is refused with a PacketError that says what failed."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import uuid
import zipfile
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station import keys, packets
from station.fingers import Finger
from station.packets import PacketError

from .conftest import FINGER, PHOTO


def entries_of(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def rebuild(entries: list[tuple[str, bytes]]) -> bytes:
    """A well-formed ZIP in the packet profile (valid CRCs) with whatever entries the attacker chose."""
    return packets._write_zip(entries, datetime(2026, 11, 29, tzinfo=UTC))


def replace_entry(data: bytes, name: str, body: bytes) -> bytes:
    return rebuild([(n, body if n == name else b) for n, b in entries_of(data)])


def data_offset(data: bytes, name: str) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    return info.header_offset + 30 + len(name)


def test_round_trip(sample_packet, office_identity, station_key):
    packet_id, data = sample_packet
    secret, _ = office_identity
    envelope = packets.verify_packet(data, station_key.public_key())
    assert envelope.packet_id == packet_id and envelope.station == "kph-01"
    assert envelope.created == datetime(2026, 11, 29, 8, 4, tzinfo=UTC)
    assert {p.name for p in envelope.parts} == {"manifest.json.age", "photo.jpg.age", "fingers/02.png.age",
                                                "fingers/07.png.age", "signature.json.age", "signature.png.age"}
    opened = packets.open_packet(data, secret, station_key.public_key())
    assert opened.files["photo.jpg"] == PHOTO
    assert opened.files["fingers/02.png"] == FINGER
    assert opened.manifest["resident"]["nik"] == "6106014508990001"
    assert packets.read_envelope(data) == envelope


def test_packet_is_a_plain_stored_zip_any_tool_can_list(sample_packet):
    _, data = sample_packet
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
        names = zf.namelist()
        envelope_bytes = zf.read("envelope.json")
    assert names[:2] == ["envelope.json", "envelope.sig"]
    assert envelope_bytes == packets.canonical_json(json.loads(envelope_bytes))
    assert b"Siti" not in data and PHOTO[:50] not in data, "plaintext must never appear in a packet"


def test_new_packet_id_is_uuid7_and_increasing():
    ids = [packets.new_packet_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == ids[0]
    unix_ms = int(ids[-1].replace("-", "")[:12], 16)
    assert abs(unix_ms / 1000 - time.time()) < 5


def test_finger_part_names_follow_iso_codes():
    assert "fingers/02.png.age" in packets.PART_NAMES
    assert {f"fingers/{f.code}.png.age" for f in Finger} <= packets.PART_NAMES
    assert "fingers/11.png.age" not in packets.PART_NAMES


def test_flipped_ciphertext_byte_is_caught(sample_packet, station_key):
    _, data = sample_packet
    at = data_offset(data, "photo.jpg.age") + 100
    flipped = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]
    with pytest.raises(PacketError, match="photo.jpg.age"):
        packets.verify_packet(flipped, station_key.public_key())
    body = dict(entries_of(data))["photo.jpg.age"]
    forged = replace_entry(data, "photo.jpg.age", body[:100] + bytes([body[100] ^ 1]) + body[101:])
    with pytest.raises(PacketError, match=r"part photo\.jpg\.age: sha256 mismatch"):
        packets.verify_packet(forged, station_key.public_key())


def test_altered_signature_is_caught(sample_packet, station_key):
    _, data = sample_packet
    other = base64.b64encode(station_key.sign(b"something else"))
    with pytest.raises(PacketError, match="signature does not verify"):
        packets.verify_packet(replace_entry(data, "envelope.sig", other), station_key.public_key())
    with pytest.raises(PacketError, match="envelope.sig"):
        packets.verify_packet(replace_entry(data, "envelope.sig", b"not base64!"), station_key.public_key())


def test_altered_envelope_is_caught(sample_packet, station_key):
    _, data = sample_packet
    envelope = json.loads(dict(entries_of(data))["envelope.json"])
    envelope["station"] = "kph-02"
    forged = replace_entry(data, "envelope.json", packets.canonical_json(envelope))
    with pytest.raises(PacketError, match="signature does not verify"):
        packets.verify_packet(forged, station_key.public_key())


def test_wrong_station_key(sample_packet):
    _, data = sample_packet
    with pytest.raises(PacketError, match="signature does not verify"):
        packets.verify_packet(data, keys.generate_signing_key().public_key())


def test_wrong_office_key(sample_packet, station_key):
    _, data = sample_packet
    other_secret, _ = keys.generate_age_identity()
    with pytest.raises(PacketError, match="decryption failed: wrong office key"):
        packets.open_packet(data, other_secret, station_key.public_key())


def test_sealed_manifest_that_lies_about_a_file(make_packet, office_identity, station_key):
    """Signed by the station, but the manifest's hash of the photo is wrong: open_packet must notice."""
    def lie(manifest):
        manifest["files"]["photo.jpg"]["sha256"] = "0" * 64
    _, data = make_packet(manifest_edit=lie)
    packets.verify_packet(data, station_key.public_key())  # envelope and ciphertexts are consistent
    with pytest.raises(PacketError, match=r"file photo\.jpg: sha256 mismatch"):
        packets.open_packet(data, office_identity[0], station_key.public_key())


def test_manifest_for_another_packet_is_refused(make_packet, office_identity, station_key):
    def swap(manifest):
        manifest["packet_id"] = packets.new_packet_id()
    _, data = make_packet(manifest_edit=swap)
    with pytest.raises(PacketError, match="packet_id differs"):
        packets.open_packet(data, office_identity[0], station_key.public_key())


def test_manifest_missing_a_file_is_refused(make_packet, office_identity, station_key):
    def drop(manifest):
        del manifest["files"]["signature.png"]
    _, data = make_packet(manifest_edit=drop)
    with pytest.raises(PacketError, match=r"file signature\.png: in the packet but not listed"):
        packets.open_packet(data, office_identity[0], station_key.public_key())


@pytest.mark.parametrize("keep", [0, 10, 21, 100, -1, -22, -23, -200])
def test_truncated_file(sample_packet, station_key, keep):
    _, data = sample_packet
    cut = data[:keep] if keep >= 0 else data[:len(data) + keep]
    with pytest.raises(PacketError, match="not a ZIP file \\(truncated\\?\\)"):
        packets.verify_packet(cut, station_key.public_key())


def _with_unlisted_part(data: bytes) -> bytes:
    """Keep the signed envelope, add a part it does not list."""
    return rebuild(entries_of(data) + [("fingers/09.png.age", b"extra")])


def test_unlisted_part_is_unexpected(sample_packet, station_key):
    _, data = sample_packet
    with pytest.raises(PacketError, match="unexpected entry fingers/09.png.age"):
        packets.verify_packet(_with_unlisted_part(data), station_key.public_key())


def test_missing_entry(sample_packet, station_key):
    _, data = sample_packet
    entries = [e for e in entries_of(data) if e[0] != "fingers/07.png.age"]
    with pytest.raises(PacketError, match="missing entry fingers/07.png.age"):
        packets.verify_packet(rebuild(entries), station_key.public_key())
    with pytest.raises(PacketError, match="missing entry envelope.sig"):
        packets.verify_packet(rebuild([e for e in entries if e[0] != "envelope.sig"]), station_key.public_key())


@pytest.mark.parametrize("evil", ["../etc/passwd", "/abs", "fingers/../../x", "a\\b", "Photo.JPG"])
def test_bad_entry_names(sample_packet, station_key, evil):
    _, data = sample_packet
    with pytest.raises(PacketError, match="entry name"):
        packets.verify_packet(rebuild(entries_of(data) + [(evil, b"x")]), station_key.public_key())


def test_duplicate_entry(sample_packet, station_key):
    _, data = sample_packet
    entries = entries_of(data)
    with pytest.raises(PacketError, match="duplicate"):
        packets.verify_packet(rebuild(entries + [entries[2]]), station_key.public_key())


def test_compressed_entry_and_deflate_bomb(sample_packet, station_key):
    _, data = sample_packet
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, body in entries_of(data):
            zf.writestr(name, body)
        zf.writestr("fingers/01.png.age", b"\0" * 50_000_000)  # 50 MB that deflates to ~50 kB
    assert len(buf.getvalue()) < 1_000_000
    with pytest.raises(PacketError, match="compressed"):
        packets.verify_packet(buf.getvalue(), station_key.public_key())


def test_too_many_entries(station_key):
    bomb = rebuild([(f"e{i}", b"") for i in range(packets.MAX_ENTRIES + 1)])
    with pytest.raises(PacketError, match="entries"):
        packets.verify_packet(bomb, station_key.public_key())


def test_stdlib_written_stored_zip_is_outside_the_profile(sample_packet, station_key):
    """zipfile's own stored ZIP carries other header values; the profile is strict so every byte is accounted for."""
    _, data = sample_packet
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, body in entries_of(data):
            zf.writestr(name, body)
    with pytest.raises(PacketError):
        packets.verify_packet(buf.getvalue(), station_key.public_key())


def test_build_packet_refuses_bad_input(station_key):
    good = {"manifest.json.age": b"x"}
    created = datetime.now(UTC)
    with pytest.raises(PacketError, match="UUIDv7"):
        packets.build_packet(packet_id=str(uuid.uuid4()), station_id="kph-01", created=created,
                             sealed_parts=good, signing_key=station_key)
    with pytest.raises(PacketError, match="station id"):
        packets.build_packet(packet_id=packets.new_packet_id(), station_id="KPH 01", created=created,
                             sealed_parts=good, signing_key=station_key)
    with pytest.raises(PacketError, match="timezone"):
        packets.build_packet(packet_id=packets.new_packet_id(), station_id="kph-01", created=datetime.now(),
                             sealed_parts=good, signing_key=station_key)
    with pytest.raises(PacketError, match="photo.png.age"):
        packets.build_packet(packet_id=packets.new_packet_id(), station_id="kph-01", created=created,
                             sealed_parts={**good, "photo.png.age": b"x"}, signing_key=station_key)
    with pytest.raises(PacketError, match="manifest.json.age: missing"):
        packets.build_packet(packet_id=packets.new_packet_id(), station_id="kph-01", created=created,
                             sealed_parts={"photo.jpg.age": b"x"}, signing_key=station_key)
    with pytest.raises(PacketError, match="age X25519 recipient"):
        packets.seal_part(b"x", "age1notakey")


def test_envelope_fields_are_checked_even_when_signed(station_key):
    """A station (or stolen key) signing a malformed envelope still gets a precise refusal."""
    def signed(envelope: dict) -> bytes:
        raw = packets.canonical_json(envelope)
        return rebuild([("envelope.json", raw), ("envelope.sig", base64.b64encode(station_key.sign(raw))),
                        ("manifest.json.age", b"m")])
    base = {"schema": "jemput.packet/1", "packet_id": packets.new_packet_id(), "station": "kph-01",
            "created": "2026-11-29T00:00:00Z",   # the DOS time rebuild() writes
            "parts": [{"name": "manifest.json.age", "size_bytes": 1, "sha256": hashlib.sha256(b"m").hexdigest()}]}
    packets.verify_packet(signed(base), station_key.public_key())
    for edit, reason in [({"schema": "jemput.packet/2"}, "schema"), ({"created": "2026-11-29 08:00"}, "created"),
                         ({"packet_id": "x"}, "UUIDv7"), ({"parts": []}, "parts"),
                         ({"parts": [{"name": "manifest.json.age", "size_bytes": 2, "sha256": "0" * 64}]}, "size"),
                         ({"extra": 1}, "must be an object")]:
        with pytest.raises(PacketError, match=reason):
            packets.verify_packet(signed({**base, **edit}), station_key.public_key())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_single_byte_change_is_detected(sample_packet, office_identity, station_key, data):
    _, packet = sample_packet
    at = data.draw(st.integers(0, len(packet) - 1), label="offset")
    xor = data.draw(st.integers(1, 255), label="xor")
    damaged = packet[:at] + bytes([packet[at] ^ xor]) + packet[at + 1:]
    with pytest.raises(PacketError):
        packets.verify_packet(damaged, station_key.public_key())
    with pytest.raises(PacketError):
        packets.open_packet(damaged, office_identity[0], station_key.public_key())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_cuts_insertions_and_garbage_give_packet_error(sample_packet, station_key, data):
    _, packet = sample_packet
    kind = data.draw(st.sampled_from(["cut", "insert", "delete", "random"]))
    at = data.draw(st.integers(0, len(packet)))
    if kind == "cut":
        damaged = packet[:at]
    elif kind == "insert":
        damaged = packet[:at] + data.draw(st.binary(min_size=1, max_size=64)) + packet[at:]
    elif kind == "delete":
        damaged = packet[:at] + packet[at + data.draw(st.integers(1, 64)):]
    else:
        damaged = data.draw(st.binary(max_size=4096))
    if damaged == packet:
        return
    with pytest.raises(PacketError):
        packets.verify_packet(damaged, station_key.public_key())
    with pytest.raises(PacketError):
        packets.read_envelope(damaged)
