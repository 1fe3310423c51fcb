"""Only a rejection signed by the office sets a packet aside (with the office's reason, never blocking the queue);
any other refusal is transient; an operator or the office puts a rejected packet back."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from link_office import Office, open_outbox, queue_packets, running_office

from station import keys
from station.cli import main
from station.events import EventBus
from station.outbox import OutboxState
from station.receipts import sign_rejection, verify_rejection
from station.sync import Uploader
from station.tus_client import TusClient


@pytest.fixture
def office(tmp_path: Path):
    with running_office(tmp_path / "office") as running:
        yield running


def make_uploader(office: Office, outbox, **kw) -> Uploader:
    return Uploader(outbox, office_url=office.server.url, token=office.token, timeout_s=3.0,
                    office_verify_key=office.keys.verify_key_b64, station_id="kph-01", **kw)


def queue_bad_then_good(office: Office, data_dir: Path) -> tuple[str, list[str]]:
    """One packet signed with a key the office does not know (oldest), then three good ones."""
    [bad] = queue_packets(office, data_dir, 1, photo_bytes=4000, signing_key=keys.generate_signing_key())
    good = queue_packets(office, data_dir, 3, photo_bytes=4000, first_nik=10)
    return bad, good


def assert_set_aside(office: Office, data_dir: Path, bad: str, good: list[str]) -> None:
    outbox = open_outbox(data_dir)
    assert sorted(office.stored_packet_ids()) == sorted(good)
    assert all(outbox.get(i).state == OutboxState.ACKNOWLEDGED for i in good)
    [rejected] = outbox.rejected()
    assert rejected.packet_id == bad and rejected.rejected and rejected.state == OutboxState.SEALED
    assert rejected.last_error.startswith("rejected by office: ") and "signature" in rejected.last_error
    assert outbox.pending() == []
    stats = outbox.stats()
    assert (stats.pending, stats.rejected, stats.acknowledged_total) == (0, 1, 3)


def test_a_rejected_packet_does_not_block_later_ones(office: Office, data_dir: Path) -> None:
    bad, good = queue_bad_then_good(office, data_dir)
    bus = EventBus()
    events = bus.subscribe("sync.", maxsize=100)
    uploader = make_uploader(office, open_outbox(data_dir), bus=bus)
    result = uploader.run_once()
    assert result.acknowledged == good                                   # all good ones in the same round
    assert [pid for pid, _reason in result.rejected] == [bad] and result.failed == []
    assert_set_aside(office, data_dir, bad, good)
    seen = []
    while (event := events.get(timeout_s=0)) is not None:
        seen.append(event)
    [rejected] = [e for e in seen if e.topic == "sync.rejected"]
    assert rejected.data["packet_id"] == bad and "signature" in rejected.data["reason"]
    again = uploader.run_once()                           # later rounds skip it: nothing is sent again
    assert again.acknowledged == [] and again.rejected == [] and again.bytes_sent == 0
    assert open_outbox(data_dir).get(bad).attempts == 1


def test_a_lost_422_is_recognised_from_head(office: Office, data_dir: Path) -> None:
    """The 422 never reached the station (link cut): the row still says uploading. HEAD must say quarantined."""
    bad, good = queue_bad_then_good(office, data_dir)
    outbox = open_outbox(data_dir)
    item = outbox.get(bad)
    client = TusClient(office.server.url, office.token, timeout_s=3.0)
    created = client.create(item.size_bytes, {"packet_id": bad, "station": "kph-01", "sha256": item.sha256})
    url = created.header("Location")
    assert client.patch(url, 0, memoryview(outbox.read_bytes(item))).status == 422
    outbox.mark_uploading(bad, upload_url=url, offset=item.size_bytes)
    head = client.head(url)
    assert head.status == 200 and head.header("Jemput-Upload-Result") == "quarantined"
    assert "signature" in head.header("Jemput-Upload-Reason")
    result = make_uploader(office, outbox).run_once()
    assert result.acknowledged == good and [pid for pid, _r in result.rejected] == [bad]
    assert result.bytes_sent == sum(outbox.get(i).size_bytes for i in good)   # the bad one is not re-sent
    assert_set_aside(office, data_dir, bad, good)


def test_queue_list_shows_the_rejection_and_its_reason(office: Office, data_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad, good = queue_bad_then_good(office, data_dir)
    make_uploader(office, open_outbox(data_dir)).run_once()
    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nid = "kph-01"\ndistrict = "6106"\ndata_dir = "{data_dir}"\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["queue", "list", "--config", str(config)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(bad))
    assert "rejected by office: " in row and "signature" in row
    assert row.split()[2] == "rejected"  # the state column says so, not "sealed"


class PortalRefusing(BaseHTTPRequestHandler):
    """A captive portal or proxy answering 422 with the receiver's own error word: it must count for nothing."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"error": "packet_rejected", "reason": "login first"}).encode()
        self.send_response(422)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_HEAD = _answer

    def log_message(self, *_a) -> None:
        pass


def test_a_portals_422_keeps_every_packet_pending(office: Office, data_dir: Path) -> None:
    ids = queue_packets(office, data_dir, 3, photo_bytes=2000)
    portal = ThreadingHTTPServer(("127.0.0.1", 0), PortalRefusing)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        uploader = Uploader(open_outbox(data_dir), office_url=f"http://127.0.0.1:{portal.server_port}",
                            token=office.token, timeout_s=3.0, office_verify_key=office.keys.verify_key_b64,
                            station_id="kph-01")
        for _ in range(3):
            result = uploader.run_once()
            assert result.rejected == [] and result.acknowledged == [] and result.failed
    finally:
        portal.shutdown()
        portal.server_close()
    outbox = open_outbox(data_dir)
    assert [i.packet_id for i in outbox.pending()] == ids and outbox.rejected() == []
    # then the real office is reachable again: everything goes
    assert make_uploader(office, outbox).run_once().acknowledged == ids


def test_a_rejection_signed_by_another_key_is_not_final(office: Office, data_dir: Path) -> None:
    [packet_id] = queue_packets(office, data_dir, 1, photo_bytes=2000)
    item = open_outbox(data_dir).get(packet_id)
    forged = sign_rejection(packet_id=packet_id, sha256=item.sha256, reason="forged", rejected_at=item.created_at,
                            office_key=Ed25519PrivateKey.generate())

    class Forger(PortalRefusing):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps({"error": "packet_rejected", "reason": "forged", "rejection": forged}).encode()
            self.send_response(422)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer

    portal = ThreadingHTTPServer(("127.0.0.1", 0), Forger)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        uploader = Uploader(open_outbox(data_dir), office_url=f"http://127.0.0.1:{portal.server_port}",
                            token=office.token, timeout_s=3.0, office_verify_key=office.keys.verify_key_b64,
                            station_id="kph-01")
        assert uploader.run_once().rejected == []
    finally:
        portal.shutdown()
        portal.server_close()
    assert [i.packet_id for i in open_outbox(data_dir).pending()] == [packet_id]


def test_the_office_signs_its_rejection(office: Office, data_dir: Path) -> None:
    bad, _good = queue_bad_then_good(office, data_dir)
    outbox = open_outbox(data_dir)
    item = outbox.get(bad)
    client = TusClient(office.server.url, office.token, timeout_s=3.0)
    url = client.create(item.size_bytes, {"packet_id": bad, "station": "kph-01", "sha256": item.sha256}
                        ).header("Location")
    answer = client.patch(url, 0, memoryview(outbox.read_bytes(item)))
    assert answer.status == 422
    reason = verify_rejection(answer.json()["rejection"], office_key=office.keys.signing_key.public_key(),
                              packet_id=bad, sha256=item.sha256)
    assert "signature" in reason
    head = client.head(url)                        # the same signed bytes when the answer was lost
    assert json.loads(base64.b64decode(head.header("Jemput-Rejection"))) == answer.json()["rejection"]


def test_requeue_from_the_cli_brings_a_rejected_packet_back(office: Office, data_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad, good = queue_bad_then_good(office, data_dir)
    make_uploader(office, open_outbox(data_dir)).run_once()
    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nid = "kph-01"\ndistrict = "6106"\ndata_dir = "{data_dir}"\n', encoding="utf-8")
    assert main(["queue", "requeue", "--config", str(config)]) == 2          # neither an id nor --all-rejected
    assert main(["queue", "requeue", good[0], "--config", str(config)]) == 1  # acknowledged: nothing to requeue
    capsys.readouterr()
    assert main(["queue", "requeue", bad, "--config", str(config)]) == 0
    assert f"{bad}: back in the queue" in capsys.readouterr().out
    outbox = open_outbox(data_dir)
    item = outbox.get(bad)
    assert [i.packet_id for i in outbox.pending()] == [bad] and not item.rejected and item.upload_url is None
    again = make_uploader(office, outbox).run_once()            # sent again as a fresh upload (refused again here)
    assert again.bytes_sent == item.size_bytes and [pid for pid, _r in again.rejected] == [bad]
    assert main(["queue", "requeue", "--all-rejected", "--config", str(config)]) == 0
    assert [i.packet_id for i in open_outbox(data_dir).pending()] == [bad]
