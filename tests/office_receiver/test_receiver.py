"""The tus receiver over real HTTP: uploads in pieces, resumes, duplicates, tokens, and refusals that store nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time

import pytest
import sqlalchemy as sa

from office import db, stations
from station import keys, receipts
from station.packets import read_envelope

from .conftest import metadata_header, path_of


def stored_files(office) -> list[str]:
    return sorted(p.name for p in office.config.packets_dir.iterdir())


def staging_files(office) -> list[str]:
    return sorted(p.name for p in office.config.staging_dir.iterdir())


def test_options_advertises_tus(office):
    reply = office.request("OPTIONS", "/api/v1/uploads", token=None, tus=False)
    assert reply.status == 204
    assert reply.headers["tus-resumable"] == "1.0.0" and reply.headers["tus-version"] == "1.0.0"
    assert set(reply.headers["tus-extension"].split(",")) == {"creation", "termination", "expiration"}
    assert reply.headers["tus-max-size"] == str(2 * 1024 * 1024)


def test_full_upload_in_several_patches(office, make_packet):
    packet_id, packet = make_packet(photo_bytes=5000)
    created = office.create(packet, packet_id=packet_id)
    assert created.status == 201 and created.headers["tus-resumable"] == "1.0.0"
    location = created.headers["location"]
    assert location.startswith(f"http://127.0.0.1:{office.server.port}/api/v1/uploads/")
    offsets = []
    for start in range(0, len(packet), 1500):
        reply = office.patch(location, packet[start:start + 1500], start)
        assert reply.status == 204, reply.body
        offsets.append(int(reply.headers["upload-offset"]))
    assert offsets[-1] == len(packet) and len(offsets) >= 3
    receipt = json.loads(base64.b64decode(reply.headers["jemput-receipt"]))
    receipts.verify_receipt(receipt, office_key=office.keys.signing_key.public_key(), packet_id=packet_id,
                            sha256=hashlib.sha256(packet).hexdigest())
    fetched = office.request("GET", f"/api/v1/packets/{packet_id}/receipt")
    assert fetched.status == 200 and fetched.json() == receipt
    assert (office.config.packets_dir / f"{packet_id}.jpk").read_bytes() == packet
    assert staging_files(office) == []
    head = office.request("HEAD", path_of(location))
    assert head.headers["upload-offset"] == str(len(packet)) and head.headers["jemput-upload-result"] == "stored"
    assert office.count(db.packets) == 1


def test_resume_after_disconnects(office, make_packet):
    packet_id, packet = make_packet(photo_bytes=20000)
    location = office.create(packet, packet_id=packet_id).headers["location"]
    assert office.patch(location, packet[:4000], 0).headers["upload-offset"] == "4000"
    # 1. the link drops half-way through a PATCH body: the office keeps the bytes it received.
    raw_patch(office, location, packet[4000:10000], 4000, send_bytes=3000)
    offset = settled_offset(office, location, 4000)
    assert offset == 7000
    # 2. a PATCH arrives whole but the link drops before the answer: the bytes count.
    raw_patch(office, location, packet[7000:9000], 7000, send_bytes=2000)
    offset = settled_offset(office, location, 7000)
    assert offset == 9000
    reply = office.patch(location, packet[offset:], offset)
    assert reply.status == 204 and "jemput-receipt" in reply.headers
    assert (office.config.packets_dir / f"{packet_id}.jpk").read_bytes() == packet


def test_a_patch_cut_mid_body_leaves_the_office_at_the_bytes_it_received(office, make_packet):
    """Under a server that buffers bodies this keeps nothing; the receiver must stream and persist."""
    packet_id, packet = make_packet(photo_bytes=200_000)
    location = office.create(packet, packet_id=packet_id).headers["location"]
    raw_patch(office, location, packet, 0, send_bytes=123_457)
    assert settled_offset(office, location, 0) == 123_457
    staging = office.config.staging_dir / (location.rsplit("/", 1)[1] + ".part")
    assert staging.read_bytes() == packet[:123_457]           # the bytes themselves, fsynced
    assert office.patch(location, packet[123_457:], 123_457).status == 204
    assert (office.config.packets_dir / f"{packet_id}.jpk").read_bytes() == packet


def settled_offset(office, location: str, before: int) -> int:
    """The office's offset once the cut PATCH has been handled (the server notices the close at once)."""
    deadline = time.monotonic() + 10
    while head_offset(office, location) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    return head_offset(office, location)


def head_offset(office, location: str) -> int:
    head = office.request("HEAD", path_of(location))
    assert head.status == 200 and head.headers["cache-control"] == "no-store"
    assert head.headers["upload-length"]
    return int(head.headers["upload-offset"])


def raw_patch(office, location: str, body: bytes, offset: int, *, send_bytes: int) -> None:
    """A PATCH over a bare socket that sends only ``send_bytes`` of the body, then hangs up without reading."""
    head = (f"PATCH {path_of(location)} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
            f"Authorization: Bearer {office.tokens['kph-01']}\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", office.server.port), timeout=5) as sock:
        sock.sendall(head + body[:send_bytes])


def test_duplicate_upload_gets_the_same_receipt(office, make_packet):
    packet_id, packet = make_packet()
    first = office.upload(packet, packet_id=packet_id)
    assert first.status == 204
    again = office.create(packet, packet_id=packet_id)
    assert again.status == 200 and "location" not in again.headers
    assert again.json() == json.loads(base64.b64decode(first.headers["jemput-receipt"]))
    assert office.count(db.packets) == 1 and office.count(db.uploads) == 1


def test_two_racing_uploads_of_one_packet_store_it_once(office, make_packet):
    packet_id, packet = make_packet()
    one = office.create(packet, packet_id=packet_id).headers["location"]
    assert office.patch(one, packet[:100], 0).status == 204
    two = office.create(packet, packet_id=packet_id).headers["location"]
    r1 = office.patch(one, packet[100:], 100)
    r2 = office.patch(two, packet, 0)
    assert r1.status == r2.status == 204
    assert r1.headers["jemput-receipt"] == r2.headers["jemput-receipt"]
    assert office.count(db.packets) == 1 and stored_files(office) == [f"{packet_id}.jpk"]
    assert staging_files(office) == []


def test_a_new_create_ends_an_empty_upload_of_the_same_packet(office, make_packet):
    """The answer to a create was lost (the station never learnt the URL): its empty upload is not kept."""
    packet_id, packet = make_packet()
    lost = office.create(packet, packet_id=packet_id).headers["location"]
    again = office.create(packet, packet_id=packet_id).headers["location"]
    assert staging_files(office) == [again.rsplit("/", 1)[1] + ".part"]
    assert office.request("HEAD", path_of(lost)).status == 404
    assert office.patch(again, packet, 0).status == 204


def test_tokens(office, make_packet):
    packet_id, packet = make_packet()
    for auth in [None, "Basic abc", "Bearer", "Bearer not-a-token"]:
        headers = {"Upload-Length": "10", "Upload-Metadata": "a YQ=="} | ({"Authorization": auth} if auth else {})
        reply = office.request("POST", "/api/v1/uploads", headers=headers, token=None)
        assert reply.status == 401 and reply.headers["www-authenticate"].startswith("Bearer")
    location = office.create(packet, packet_id=packet_id).headers["location"]
    assert office.request("HEAD", path_of(location), token="kph-02").status == 403
    assert office.patch(location, packet, 0, token="kph-02").status == 403
    assert office.request("DELETE", path_of(location), token="kph-02").status == 403
    assert office.create(packet, packet_id=packet_id, station="kph-01", token="kph-02").status == 403
    assert office.patch(location, packet, 0).status == 204
    assert office.request("GET", f"/api/v1/packets/{packet_id}/receipt", token="kph-02").status == 404
    assert office.request("GET", f"/api/v1/packets/{packet_id}/receipt", token="nope").status == 401


def test_bad_signature_is_quarantined_not_stored(office, make_packet):
    packet_id, packet = make_packet(station="kph-01", signing_station="kph-02")
    reply = office.upload(packet, packet_id=packet_id)
    assert reply.status == 422 and "signature does not verify" in reply.json()["reason"]
    assert office.count(db.packets) == 0 and stored_files(office) == [] and staging_files(office) == []
    assert [p.read_bytes() for p in office.config.quarantine_dir.iterdir()] == [packet]
    assert office.count(db.quarantine) == 1
    assert office.request("GET", f"/api/v1/packets/{packet_id}/receipt").status == 404


def test_packet_for_another_station_is_refused(office, make_packet):
    """kph-02 uploads a packet kph-02 really signed, but whose envelope claims kph-01."""
    packet_id, packet = make_packet(station="kph-01", signing_station="kph-02")
    reply = office.upload(packet, packet_id=packet_id, station="kph-02")
    assert reply.status == 422
    assert office.count(db.packets) == 0


def test_sha256_in_metadata_must_match(office, make_packet):
    packet_id, packet = make_packet()
    meta = metadata_header(packet_id=packet_id, station="kph-01", sha256="0" * 64)
    created = office.request("POST", "/api/v1/uploads",
                             headers={"Upload-Length": str(len(packet)), "Upload-Metadata": meta})
    reply = office.patch(created.headers["location"], packet, 0)
    assert reply.status == 422 and "sha256" in reply.json()["reason"]
    assert office.count(db.packets) == 0


def test_protocol_refusals(office, make_packet):
    packet_id, packet = make_packet()
    meta = metadata_header(packet_id=packet_id, station="kph-01", sha256="a" * 64)
    post = {"Upload-Metadata": meta}
    for length, status in [("-1", 400), ("abc", 400), ("", 400), ("0", 400), ("1e3", 400),
                           ("99999999999999999999", 400), ("9999999999", 413), (str(2 * 1024 * 1024 + 1), 413)]:
        assert office.request("POST", "/api/v1/uploads", headers={**post, "Upload-Length": length}).status == status
    for bad_meta in ["packet_id !!!", "packet_id", "station a2Fw", f"{meta},packet_id YQ==", "sp ace YQ== x"]:
        reply = office.request("POST", "/api/v1/uploads", headers={"Upload-Length": "10", "Upload-Metadata": bad_meta})
        assert reply.status == 400, bad_meta
    assert office.request("POST", "/api/v1/uploads", headers={**post, "Upload-Length": "10"}, tus=False).status == 412
    location = office.create(packet, packet_id=packet_id).headers["location"]
    assert office.patch(location, packet[:10], 5).status == 409
    wrong_type = office.request("PATCH", path_of(location), body=packet[:10],
                                headers={"Upload-Offset": "0", "Content-Type": "application/octet-stream"})
    assert wrong_type.status == 415
    too_long = office.patch(location, packet + b"extra", 0)
    assert too_long.status == 413 and head_offset(office, location) == 0
    assert office.request("GET", "/api/v1/uploads").status == 405
    assert office.request("HEAD", "/api/v1/uploads/" + "f" * 32).status == 404
    assert office.request("HEAD", "/api/v1/uploads/../../etc").status == 404


def test_termination(office, make_packet):
    packet_id, packet = make_packet()
    location = office.create(packet, packet_id=packet_id).headers["location"]
    office.patch(location, packet[:100], 0)
    assert staging_files(office) != []
    assert office.request("DELETE", path_of(location)).status == 204
    assert office.request("HEAD", path_of(location)).status == 404
    assert office.patch(location, packet[100:], 100).status == 404
    assert staging_files(office) == []


def test_token_is_stored_only_as_a_hash(office):
    with office.engine.connect() as conn:
        hashes = [r[0] for r in conn.execute(sa.select(db.stations.c.token_hash))]
    assert office.tokens["kph-01"] not in hashes
    assert hashlib.sha256(office.tokens["kph-01"].encode()).hexdigest() in hashes


def test_revoked_station_cannot_upload(office, make_packet):
    stations.set_active(office.engine, "kph-01", False)
    packet_id, packet = make_packet()
    assert office.create(packet, packet_id=packet_id).status == 401
    new_token = stations.rotate_token(office.engine, "kph-02")
    assert office.request("GET", "/api/v1/health", token=None).status == 200
    assert office.create(packet, packet_id=packet_id, station="kph-02").status == 401
    office.tokens["kph-02"] = new_token
    _, packet2 = make_packet(station="kph-02")
    assert office.create(packet2, packet_id=read_envelope(packet2).packet_id, station="kph-02").status == 201


def test_station_key_registration_is_validated(office):
    with pytest.raises(stations.StationError, match="public key"):
        stations.register_station(office.engine, "kph-03", "abc", "6106")
    with pytest.raises(stations.StationError, match="district"):
        stations.register_station(office.engine, "kph-03", keys.public_key_b64(keys.generate_signing_key()), "61")
