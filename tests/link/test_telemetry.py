"""Station MQTT relay against a real Mosquitto: state/will, status on change, events, offline backlog, commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from link_broker import Broker, Listener, wait_for
from link_helpers import snapshot, station_config

from office.mosquitto import OFFICE_USER
from station.commands import sign_command
from station.events import EventBus
from station.telemetry import Telemetry

PREFIX = "jemput/v1/6106/kph-01/"
STATUS_KEYS = ["schema", "station", "district", "ts", "version", "uptime_s", "power", "queue", "session", "devices",
               "storage", "cpu_temp_c", "locked"]


class FakeSnapshot:
    """The station's state as the runtime would report it; tests change it between calls."""

    def __init__(self) -> None:
        self.value = snapshot()

    def __call__(self) -> dict:
        return self.value


def make_telemetry(broker: Broker, data_dir: Path, verify_key: str = "", on_command=None, **kw) -> tuple:
    bus, snap = EventBus(), FakeSnapshot()
    tel = Telemetry(station_config(broker.port, data_dir, verify_key=verify_key), station_snapshot=snap, bus=bus,
                    office_verify_key=verify_key or None, on_command=on_command,
                    password=broker.passwords["kph-01"], **kw)
    return tel, bus, snap


def test_online_status_and_change_driven_updates(broker: Broker, office_listener: Listener, data_dir: Path) -> None:
    tel, bus, snap = make_telemetry(broker, data_dir)
    tel.start()
    try:
        wait_for(lambda: office_listener.on(PREFIX + "state") == [b"online"], 10, what="state online")
        status = wait_for(lambda: office_listener.json_on(PREFIX + "status"), 10, what="first status")[0]
        assert list(status) == STATUS_KEYS
        assert status["schema"] == "jemput.status/1" and status["station"] == "kph-01" and status["district"] == "6106"
        assert status["ts"].endswith("Z") and datetime.fromisoformat(status["ts"].replace("Z", "+00:00"))
        assert status["devices"] == {"camera": "ok", "fingerprint": "ok", "signature_pad": "ok", "battery": "ok"}
        assert status["queue"]["pending"] == 3 and status["session"] == {"id": "s-1", "desa": "61.06.01.2001",
                                                                         "enrolled": 4}
        # a 1 % drop is not significant; a power cut is, and so is the 5 % step, and a device fault (+ event)
        snap.value = snapshot(power={"battery_percent": 80.5})
        bus.publish("power.changed")
        snap.value = snapshot(power={"on_mains": False, "battery_percent": 80.5, "charging": False})
        bus.publish("power.changed")
        wait_for(lambda: len(office_listener.on(PREFIX + "status")) == 2, 5, what="status after power cut")
        assert office_listener.json_on(PREFIX + "status")[1]["power"]["on_mains"] is False
        snap.value = snapshot(power={"on_mains": False, "battery_percent": 15.0},
                              devices={"fingerprint": {"health": "fault", "reason": "no reply"}})
        bus.publish("device.fingerprint", health="fault")
        events = wait_for(lambda: office_listener.json_on(PREFIX + "event") if len(
            office_listener.json_on(PREFIX + "event")) >= 2 else None, 5, what="alarm events")
        assert {e["type"] for e in events} == {"battery_low", "device_fault"}
        assert all(set(e) == {"type", "severity", "ts", "detail"} for e in events)
        # The status that follows the device change may land just after the events: wait for it.
        wait_for(lambda: office_listener.json_on(PREFIX + "status")[-1]["devices"]["fingerprint"] == "fault", 5,
                 what="status with the fingerprint fault")
        bus.publish("sync.failed", error="connection reset", packet_id="p1")
        wait_for(lambda: any(e["type"] == "sync_failed" for e in office_listener.json_on(PREFIX + "event")), 5,
                 what="sync_failed event")
        bus.publish("sync.rejected", reason="signature does not verify", packet_id="p2")
        rejected = wait_for(lambda: [e for e in office_listener.json_on(PREFIX + "event")
                                     if e["type"] == "packet_rejected"], 5, what="packet_rejected event")
        assert rejected[0]["severity"] == "error"
        assert rejected[0]["detail"] == {"reason": "signature does not verify", "packet_id": "p2"}
    finally:
        tel.stop()
    assert office_listener.on(PREFIX + "state")[-1] == b"offline"


def test_offline_keeps_latest_status_and_bounded_events(broker: Broker, data_dir: Path) -> None:
    broker.stop()
    tel, bus, snap = make_telemetry(broker, data_dir, event_backlog=10)
    tel.start()
    try:
        for i in range(25):
            tel.publish_event("test", "info", {"i": i})
        for pct in (70.0, 60.0, 50.0):
            snap.value = snapshot(power={"battery_percent": pct})
            bus.publish("power.changed")
            wait_for(lambda p=pct: tel._last_built and tel._last_built["power"]["battery_percent"] == p, 5)
        broker.start()
        listener = Listener(broker.port, OFFICE_USER, broker.passwords[OFFICE_USER])
        try:
            wait_for(lambda: tel.connected, 20, what="station reconnect")
            events = wait_for(lambda: listener.json_on(PREFIX + "event") if len(
                listener.json_on(PREFIX + "event")) >= 11 else None, 5, what="backlog after reconnect")
            assert events[0]["type"] == "events_dropped" and events[0]["detail"]["count"] == 15
            assert [e["detail"]["i"] for e in events[1:]] == list(range(15, 25))
            statuses = wait_for(lambda: listener.json_on(PREFIX + "status"), 5, what="status after reconnect")
            assert [s["power"]["battery_percent"] for s in statuses] == [50.0]   # only the latest, once
        finally:
            listener.close()
    finally:
        tel.stop()


def test_commands_signed_checked_and_answered(broker: Broker, office_listener: Listener, data_dir: Path,
                                              office_keys) -> None:
    office_key, office_pub = office_keys
    received: list[tuple[str, dict]] = []

    def handler(name: str, args: dict) -> dict:
        received.append((name, args))
        return {"started": True}

    tel, _bus, _snap = make_telemetry(broker, data_dir, verify_key=office_pub, on_command=handler)
    tel.start()
    office = office_listener.client
    try:
        assert tel.wait_connected(10)
        wait_for(lambda: office_listener.on(PREFIX + "state"), 5)
        good = sign_command("sync-now", {}, office_key=office_key)
        office.publish(PREFIX + "cmd/sync-now", json.dumps(good), qos=1)
        reply = wait_for(lambda: office_listener.json_on(PREFIX + "reply/" + good["id"]), 5, what="reply")[0]
        assert reply["ok"] is True and reply["result"] == {"started": True}
        assert received == [("sync-now", {})]

        forged = sign_command("unlock", {}, office_key=Ed25519PrivateKey.generate())
        expired = sign_command("lock", {}, office_key=office_key, now=datetime.now(UTC) - timedelta(minutes=9))
        tampered = sign_command("message", {"text": "halo"}, office_key=office_key)
        tampered["args"]["text"] = "transfer money"
        wrong_topic = sign_command("lock", {}, office_key=office_key)
        for topic, cmd in (("unlock", forged), ("lock", expired), ("message", tampered), ("unlock", wrong_topic),
                           ("sync-now", good)):                                   # the last one is a replay
            office.publish(PREFIX + "cmd/" + topic, json.dumps(cmd), qos=1)
        office.publish(PREFIX + "cmd/lock", b"{not json", qos=1)
        wait_for(lambda: len(tel.refused) == 6, 5, what="six refusals")
        reasons = {cid: reason for cid, reason in tel.refused}
        assert reasons == {forged["id"]: "bad_signature", expired["id"]: "expired", tampered["id"]: "bad_signature",
                           wrong_topic["id"]: "wrong_topic", good["id"]: "replayed", None: "malformed"}
        wait_for(lambda: office_listener.json_on(PREFIX + "reply/" + forged["id"]), 5)
        assert office_listener.json_on(PREFIX + "reply/" + forged["id"])[0]["ok"] is False
        assert office_listener.json_on(PREFIX + "reply/" + forged["id"])[0]["error"] == "bad_signature"
        assert received == [("sync-now", {})]                                    # nothing else reached the handler
    finally:
        tel.stop()


def test_refused_command_is_logged(broker: Broker, office_listener: Listener, data_dir: Path, office_keys,
                                   caplog) -> None:
    _key, office_pub = office_keys
    tel, _bus, _snap = make_telemetry(broker, data_dir, verify_key=office_pub, on_command=lambda *_a: None)
    tel.start()
    try:
        assert tel.wait_connected(10)
        forged = sign_command("lock", {}, office_key=Ed25519PrivateKey.generate())
        with caplog.at_level("WARNING", logger="station.telemetry"):
            office_listener.client.publish(PREFIX + "cmd/lock", json.dumps(forged), qos=1)
            wait_for(lambda: tel.refused, 5)
        assert any("refused command" in r.message and forged["id"] in r.message for r in caplog.records)
    finally:
        tel.stop()


def test_failing_snapshot_does_not_stop_the_relay(broker: Broker, office_listener: Listener, data_dir: Path) -> None:
    calls = {"n": 0}

    def flaky() -> dict:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        return snapshot()

    bus = EventBus()
    tel = Telemetry(station_config(broker.port, data_dir), station_snapshot=flaky, bus=bus, office_verify_key=None,
                    on_command=None, password=broker.passwords["kph-01"])
    tel.start()
    try:
        wait_for(lambda: office_listener.on(PREFIX + "state") == [b"online"], 10, what="online despite the error")
        wait_for(lambda: calls["n"] >= 1, 5)
        bus.publish("outbox.changed")                      # the next change retries the snapshot
        status = wait_for(lambda: office_listener.json_on(PREFIX + "status"), 5, what="status after a retry")
        assert status[0]["queue"]["pending"] == 3
    finally:
        tel.stop()
