"""The link parts wired by the real station runtime (C's build_station, simulated devices): status from the
station's own snapshot, and a signed `sync-now` from the office reaching the uploader through the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from link_broker import Broker, Listener, wait_for
from link_helpers import station_config_dict
from link_office import queue_packets, running_office

from station import keys
from station.commands import sign_command
from station.config import config_from_dict
from station.runtime import build_station

PREFIX = "jemput/v1/6106/kph-01/"


@pytest.fixture
def office(tmp_path: Path):
    with running_office(tmp_path / "office") as running:
        yield running


def test_runtime_reports_and_obeys_sync_now(broker: Broker, office_listener: Listener, office, tmp_path: Path) -> None:
    data_dir = tmp_path / "station"
    [packet_id] = queue_packets(office, data_dir, 1, photo_bytes=4000)
    (data_dir / "keys").mkdir(exist_ok=True)
    keys.save_private_key(office.station_key, data_dir / "keys" / "station.key")
    (data_dir / "keys" / "mqtt-password").write_text(broker.passwords["kph-01"])
    raw = station_config_dict(broker.port, data_dir, verify_key=office.keys.verify_key_b64)
    raw["office"].update(url=office.server.url, token=office.token, public_key=office.keys.recipient,
                         biometrics_key=office.keys.biometrics_recipient)
    raw["devices"] = {"camera": {"backend": "synthetic"}}
    station = build_station(config_from_dict(raw), simulate=True)
    assert station.uploader.progress()["state"] == "idle"
    station.start()
    try:
        status = wait_for(lambda: office_listener.json_on(PREFIX + "status"), 20, what="runtime status")[-1]
        assert status["station"] == "kph-01" and status["devices"]["fingerprint"] in ("ok", "absent", "fault")
        wait_for(lambda: not station.outbox.pending(), 20, what="first round uploads the queued record")
        [second] = queue_packets(office, data_dir, 1, photo_bytes=4000, first_nik=50)
        assert [i.packet_id for i in station.outbox.pending()] == [second]
        command = sign_command("sync-now", {}, office_key=office.keys.signing_key)
        office_listener.client.publish(PREFIX + "cmd/sync-now", json.dumps(command), qos=1)
        reply = wait_for(lambda: office_listener.json_on(PREFIX + "reply/" + command["id"]), 10, what="reply")[0]
        assert reply["ok"] is True and reply["result"] == {"synced": True}
        # the uploader sleeps 60 s between idle rounds: only the command can make this happen within 20 s
        wait_for(lambda: not station.outbox.pending(), 20, what="sync-now uploads the new record")
        assert sorted(office.stored_packet_ids()) == sorted([packet_id, second])
        wait_for(lambda: office_listener.json_on(PREFIX + "status")[-1]["queue"]["acknowledged_total"] == 2, 10,
                 what="status follows the queue")
    finally:
        station.stop()
    assert office_listener.on(PREFIX + "state")[-1] == b"offline"
