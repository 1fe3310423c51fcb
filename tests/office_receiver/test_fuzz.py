"""Malformed tus requests and hostile packets, seeded so a failure replays: always a 4xx, never a 5xx, and never a
stored packet."""

from __future__ import annotations

import io
import random
import zipfile

from office import db
from station import packets

from .conftest import metadata_header, path_of

SEED = 20261129


def mutate_packet(rng: random.Random, good: bytes) -> bytes:
    kind = rng.choice(["flip", "truncate", "random", "deflate_bomb", "many_entries", "append", "swap"])
    if kind == "flip":
        at = rng.randrange(len(good))
        return good[:at] + bytes([good[at] ^ rng.randrange(1, 256)]) + good[at + 1:]
    if kind == "truncate":
        return good[:rng.randrange(1, len(good))]
    if kind == "random":
        return rng.randbytes(rng.randrange(1, 5000))
    if kind == "deflate_bomb":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("envelope.json", b"{" * 10)
            zf.writestr("photo.jpg.age", b"\0" * 20_000_000)
        return buf.getvalue()
    if kind == "many_entries":
        return packets._write_zip([(f"e{i}", b"x") for i in range(500)], packets.datetime.now(packets.UTC))
    if kind == "append":
        return good + rng.randbytes(rng.randrange(1, 100))
    half = len(good) // 2
    return good[half:] + good[:half]


def test_hostile_packets_are_refused_and_never_stored(office, make_packet):
    rng = random.Random(SEED)
    packet_id, good = make_packet()
    for _ in range(40):
        bad = mutate_packet(rng, good)
        created = office.create(bad, packet_id=packet_id)
        assert created.status == 201, created.body
        reply = office.patch(created.headers["location"], bad, 0)
        assert reply.status == 422, (reply.status, reply.body)
        assert reply.json()["error"] == "packet_rejected" and reply.json()["reason"]
    assert office.count(db.packets) == 0 and not list(office.config.packets_dir.iterdir())
    assert not list(office.config.staging_dir.iterdir())
    assert office.count(db.quarantine) == 40
    assert office.upload(good, packet_id=packet_id).status == 204, "the real packet still goes through afterwards"


def random_headers(rng: random.Random, office, packet_id: str) -> dict[str, str]:
    choices = {
        "Tus-Resumable": ["1.0.0", "0.2.2", "", "1.0.0 ", "x" * 300],
        "Upload-Length": ["100", "-1", "0", "abc", "1" * 25, "4294967296", " 12", "1.5", "0x10", "１２"],
        "Upload-Offset": ["0", "-1", "5", "99999999999999999999", "abc", "", "00"],
        "Upload-Metadata": [metadata_header(packet_id=packet_id, station="kph-01", sha256="a" * 64),
                            metadata_header(packet_id="x", station="kph-01", sha256="b" * 64), "packet_id ***",
                            ",,,", " ", "a " + "A" * 5000, "packet_id\u00e9 YQ==", "k v,k v"],
        "Content-Type": ["application/offset+octet-stream", "text/plain", "", "application/offset+octet-stream; x=y"],
        "Authorization": [f"Bearer {office.tokens['kph-01']}", f"Bearer {office.tokens['kph-02']}", "Bearer",
                          "bearer  " + office.tokens["kph-01"], "Token x", ""],
        "Upload-Defer-Length": ["1"],
    }
    return {name: rng.choice(values) for name, values in choices.items() if rng.random() < 0.6}


def test_malformed_tus_requests_never_cause_a_server_error(office, make_packet):
    rng = random.Random(SEED)
    packet_id, packet = make_packet()
    location = path_of(office.create(packet, packet_id=packet_id).headers["location"])
    paths = ["/api/v1/uploads", location, location + "x", "/api/v1/uploads/" + "0" * 32, "/api/v1/uploads/%00",
             f"/api/v1/packets/{packet_id}/receipt", "/api/v1/packets/../receipt", "/api/v1/uploads/" + "a" * 5000]
    statuses = set()
    for _ in range(300):
        method = rng.choice(["POST", "PATCH", "HEAD", "DELETE", "GET", "PUT", "OPTIONS"])
        body = rng.randbytes(rng.choice([0, 1, 10, 3000]))
        headers = random_headers(rng, office, packet_id)
        headers = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}
        reply = office.request(method, rng.choice(paths), body=body, headers=headers, token=None, tus=False)
        statuses.add(reply.status)
        assert reply.status < 500, (method, headers, reply.status, reply.body[:200])
        if reply.status >= 400 and method != "HEAD":
            assert reply.headers["content-type"].startswith("application/json")
    assert any(400 <= s < 500 for s in statuses) and len(statuses) >= 5
    assert office.count(db.packets) == 0
    assert all(len(p.read_bytes()) <= len(packet) for p in office.config.staging_dir.iterdir())
