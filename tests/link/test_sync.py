"""Uploader against B's real receiver over real HTTP, through a throttling, dropping, stalling proxy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from link_broker import wait_for
from link_office import Office, open_outbox, queue_packets, running_office
from proxy import ThrottlingProxy

from office import db
from station.events import EventBus
from station.outbox import OutboxState
from station.receipts import sign_receipt, verify_receipt
from station.sync import ChunkPolicy, Uploader
from station.tus_client import TusClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def office(tmp_path: Path):
    with running_office(tmp_path / "office") as running:
        yield running


def make_uploader(office: Office, outbox, url: str, **kw) -> Uploader:
    kw.setdefault("timeout_s", 3.0)
    kw.setdefault("backoff_base_s", 0.05)
    kw.setdefault("backoff_max_s", 0.5)
    return Uploader(outbox, office_url=url, token=office.token, office_verify_key=office.keys.verify_key_b64,
                    station_id="kph-01", **kw)


def office_offset(office: Office) -> int:
    with office.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(db.uploads.c.offset_bytes))).scalar() or 0)


def test_twenty_records_arrive_exactly_once_over_a_bad_link(office: Office, data_dir: Path) -> None:
    ids = queue_packets(office, data_dir, 20)
    proxy = ThrottlingProxy(office.server.port, rate_bps=1_000_000)             # ~5 s for the lot
    proxy.drop_every_bytes = 150_000                           # several cuts in the middle of PATCH bodies
    outbox, bus = open_outbox(data_dir), EventBus()
    events = bus.subscribe("sync.", maxsize=1000)
    uploader = make_uploader(office, outbox, proxy.url, bus=bus, chunk=ChunkPolicy(initial_bytes=32 * 1024))

    def stall_once() -> None:              # the link goes silent (no RST, no FIN) for longer than the timeout
        wait_for(lambda: open_outbox(data_dir).stats().acknowledged_total >= 3, 60)
        proxy.stalled.set()
        threading.Event().wait(8)      # longer than the PATCH timeout and the resuming HEAD's together
        proxy.stalled.clear()

    staller = threading.Thread(target=stall_once, daemon=True)
    staller.start()
    uploader.start()
    try:
        wait_for(lambda: not outbox.pending(), 90, interval_s=0.2, what="all 20 acknowledged")
    finally:
        uploader.stop()
        proxy.close()
        staller.join(10)
    assert sorted(office.stored_packet_ids()) == sorted(ids)                  # exactly once in the DB ...
    assert office.packet_files() == sorted(f"{i}.jpk" for i in ids)           # ... and on disk
    assert office.staging_files() == []
    for packet_id in ids:
        item = outbox.get(packet_id)
        assert item.state == OutboxState.ACKNOWLEDGED
        verify_receipt(outbox.receipt(packet_id), office_key=office.keys.signing_key.public_key(),
                       packet_id=packet_id, sha256=item.sha256)
    assert proxy.drops >= 2
    seen = []
    while (event := events.get(timeout_s=0)) is not None:
        seen.append(event)
    assert sorted(e.data["packet_id"] for e in seen if e.topic == "sync.done") == sorted(ids)
    assert any(e.topic == "sync.progress" for e in seen)
    failures = [e.data["error"] for e in seen if e.topic == "sync.failed"]
    assert any("Timeout" in f for f in failures), failures                      # the stall was cut by a timeout


class CaptivePortal(BaseHTTPRequestHandler):
    """Answers 200 to everything, like a hotel or shop Wi-Fi login page; optionally with a forged receipt."""

    body = b"<html><body>Silakan login untuk internet gratis</body></html>"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.body)

    do_GET = do_POST = do_PATCH = do_HEAD = _answer

    def log_message(self, *_a) -> None:
        pass


@pytest.mark.parametrize("forged", [False, True], ids=["html", "forged-receipt"])
def test_captive_portal_acknowledges_nothing(office: Office, data_dir: Path, forged: bool) -> None:
    ids = queue_packets(office, data_dir, 3, photo_bytes=2000)
    outbox = open_outbox(data_dir)
    handler = type("Portal", (CaptivePortal,), {})
    if forged:   # a receipt-shaped answer signed by some other key, for the right packet id and hash
        item = outbox.get(ids[0])
        fake = sign_receipt(packet_id=ids[0], sha256=item.sha256, received_at=item.created_at,
                            office_key=Ed25519PrivateKey.generate())
        handler.body = json.dumps(fake).encode()
    portal = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        uploader = make_uploader(office, outbox, f"http://127.0.0.1:{portal.server_port}")
        for _ in range(2):
            result = uploader.run_once()
            assert result.acknowledged == [] and result.failed
    finally:
        portal.shutdown()
        portal.server_close()
    assert [i.packet_id for i in outbox.pending()] == ids
    assert all(outbox.get(i).state == OutboxState.SEALED and outbox.get(i).acknowledged_at is None for i in ids)
    assert outbox.get(ids[0]).attempts == 2 and outbox.get(ids[0]).last_error


def _settled_office_offset(office: Office) -> int:
    """The office's offset once nothing more lands (a PATCH body already in the proxy may still complete)."""
    last = -1
    while (now := office_offset(office)) != last:
        last = now
        threading.Event().wait(0.3)
    return last


def test_sigkill_mid_upload_resumes_from_the_office_offset(office: Office, data_dir: Path, tmp_path: Path) -> None:
    """A real crash: the uploader runs in its own process and is SIGKILLed in the middle of a PATCH."""
    [packet_id] = queue_packets(office, data_dir, 1, photo_bytes=600_000)
    size = open_outbox(data_dir).get(packet_id).size_bytes
    proxy = ThrottlingProxy(office.server.port, rate_bps=2_000_000)             # ~0.25 s per 64 KB chunk
    spec = tmp_path / "upload-spec.json"
    spec.write_text(json.dumps({"data_dir": str(data_dir), "url": proxy.url, "token": office.token,
                                "verify_key": office.keys.verify_key_b64, "chunk_bytes": 64 * 1024}))
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("upload_child.py")), str(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for(lambda: office_offset(office) >= 192 * 1024 or child.poll() is not None, 30,
                 what="three chunks at the office")
        assert child.poll() is None, f"uploader child died on its own: {child.stderr.read()[-2000:]}"
        wait_for(lambda: proxy.bytes_up > office_offset(office) + 8 * 1024, 10, what="a PATCH in flight")
        child.send_signal(signal.SIGKILL)                                       # power cut in the middle of a PATCH
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        proxy.close()
    assert child.returncode == -signal.SIGKILL
    landed = _settled_office_offset(office)
    assert 0 < landed < size
    second_outbox = open_outbox(data_dir)     # new objects on the same data dir: a restarted station
    item = second_outbox.get(packet_id)
    assert item.upload_url and item.state == OutboxState.UPLOADING and item.upload_offset <= landed
    second = make_uploader(office, second_outbox, office.server.url)
    result = second.run_once()
    assert result.acknowledged == [packet_id]
    assert result.bytes_sent == size - landed                 # resumed at the office's offset, not from zero
    assert office.stored_packet_ids() == [packet_id] and office.staging_files() == []
    assert second_outbox.get(packet_id).state == OutboxState.ACKNOWLEDGED


def test_receipt_first_no_reupload_when_the_answer_was_lost(office: Office, data_dir: Path) -> None:
    ids = queue_packets(office, data_dir, 2, photo_bytes=5000)
    outbox = open_outbox(data_dir)
    # the first packet reached the office, but the station never saw the answer (link died after the last byte)
    client = TusClient(office.server.url, office.token)
    item = outbox.get(ids[0])
    created = client.create(item.size_bytes, {"packet_id": item.packet_id, "station": "kph-01", "sha256": item.sha256})
    assert client.patch(created.header("Location"), 0, memoryview(outbox.read_bytes(item))).status == 204
    uploader = make_uploader(office, outbox, office.server.url)
    result = uploader.run_once()
    assert result.acknowledged == ids
    assert result.bytes_sent == outbox.get(ids[1]).size_bytes          # only the second one was sent
    assert sorted(office.stored_packet_ids()) == sorted(ids)


def test_power_policy_pauses_and_sync_now_resumes(office: Office, data_dir: Path) -> None:
    ids = queue_packets(office, data_dir, 2, photo_bytes=3000)
    outbox = open_outbox(data_dir)
    allowed = threading.Event()
    uploader = make_uploader(office, outbox, office.server.url, can_sync=allowed.is_set, idle_poll_s=60)
    paused = uploader.run_once()
    assert paused.paused and paused.acknowledged == [] and paused.bytes_sent == 0
    uploader.start()
    try:
        wait_for(lambda: uploader.state == "paused", 5)
        allowed.set()
        uploader.sync_now()                                       # without it the thread would sleep 60 s
        wait_for(lambda: not outbox.pending(), 10, what="upload after sync_now")
    finally:
        uploader.stop()
    assert sorted(office.stored_packet_ids()) == sorted(ids)


def test_chunks_shrink_on_a_slow_link_and_grow_on_a_fast_one(office: Office, data_dir: Path) -> None:
    [slow_id] = queue_packets(office, data_dir, 1, photo_bytes=200_000)
    proxy = ThrottlingProxy(office.server.port, rate_bps=1_000_000)          # 64 KB takes ~0.5 s
    policy = ChunkPolicy(initial_bytes=64 * 1024, min_bytes=16 * 1024, max_bytes=1024 * 1024, target_s=0.2)
    uploader = make_uploader(office, open_outbox(data_dir), proxy.url, chunk=policy)
    try:
        assert uploader.run_once().acknowledged == [slow_id]
        slow_chunk = uploader.chunk_bytes
        assert slow_chunk < 64 * 1024                                          # chunks over 0.4 s: halved
        proxy.set_rate(None)                                                   # the link becomes fast
        [fast_id] = queue_packets(office, data_dir, 1, photo_bytes=1_000_000, first_nik=100)
        assert uploader.run_once().acknowledged == [fast_id]
        assert uploader.chunk_bytes > 2 * slow_chunk                           # chunks under 0.1 s: doubled
    finally:
        proxy.close()
    assert sorted(office.stored_packet_ids()) == sorted([slow_id, fast_id])


def test_an_idle_uploader_wakes_for_a_newly_sealed_record(office: Office, data_dir: Path) -> None:
    queue_packets(office, data_dir, 1, photo_bytes=3000)
    bus = EventBus()
    outbox = open_outbox(data_dir)
    uploader = make_uploader(office, outbox, office.server.url, bus=bus, idle_poll_s=60)
    uploader.start()
    try:
        wait_for(lambda: not outbox.pending() and uploader.state == "idle", 10, what="first round done")
        [new_id] = queue_packets(office, data_dir, 1, photo_bytes=3000, first_nik=10)
        bus.publish("enrollment.finished", packet_id=new_id)          # what EnrollmentService.finish publishes
        wait_for(lambda: not outbox.pending(), 5, what="new record uploaded without waiting for the 60 s poll")
    finally:
        uploader.stop()
    assert new_id in office.stored_packet_ids()


def test_a_cut_patch_resumes_at_once_from_the_bytes_the_office_kept(office: Office, data_dir: Path) -> None:
    """The office streams PATCH bodies and keeps what a cut delivered, so the uploader asks HEAD and goes on in
    the same round: no backoff, nothing re-sent but what the cut itself lost, chunks stay large."""
    [packet_id] = queue_packets(office, data_dir, 1, photo_bytes=640_000)
    size = open_outbox(data_dir).get(packet_id).size_bytes
    proxy = ThrottlingProxy(office.server.port, rate_bps=40_000_000)       # cut every 150 KB
    proxy.drop_every_bytes = 150_000
    uploader = make_uploader(office, open_outbox(data_dir), proxy.url)
    try:
        result = uploader.run_once()
    finally:
        proxy.close()
    assert result.acknowledged == [packet_id] and result.failed == []          # one round, through every cut
    assert proxy.drops >= 3 and office.stored_packet_ids() == [packet_id]
    resent_on_the_wire = proxy.bytes_up - size           # request headers and what each cut lost in flight
    assert resent_on_the_wire < (proxy.drops + 1) * 24 * 1024, (proxy.bytes_up, size, proxy.drops)
    assert uploader.chunk_bytes >= 256 * 1024                                  # a drop did not shrink them
