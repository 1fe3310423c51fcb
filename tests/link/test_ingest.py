"""Office ingest and broker ACL against a real Mosquitto; the last will after SIGKILL of a station process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from link_broker import Broker, Listener, free_port, wait_for
from link_helpers import snapshot, station_config, station_config_dict
from paho.mqtt.enums import CallbackAPIVersion

from office import telemetry_db as tdb
from office.config import office_config_from_dict
from office.db import open_db
from office.ingest import Ingest, latest_status
from office.mosquitto import OFFICE_USER
from station.events import EventBus
from station.telemetry import Telemetry

PREFIX = "jemput/v1/6106/kph-01/"
ROOT = Path(__file__).resolve().parents[2]


def connect(broker: Broker, user: str, password: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-raw-{free_port()}", protocol=mqtt.MQTTv5)
    client.username_pw_set(user, broker.passwords[user] if password is None else password)
    client.connect("127.0.0.1", broker.port, keepalive=5)
    client.loop_start()
    wait_for(client.is_connected, 5, what=f"{user} connected")
    return client


def publish(client: mqtt.Client, topic: str, payload: bytes | str, retain: bool = False) -> None:
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=5)


@pytest.fixture
def office(broker: Broker, tmp_path: Path):
    yield from office_fixture(broker, tmp_path)


def office_fixture(broker: Broker, tmp_path: Path):
    config = office_config_from_dict({
        "office": {"district": "6106", "data_dir": str(tmp_path / "office")},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "tls": False, "username": OFFICE_USER,
                 "password": broker.passwords[OFFICE_USER], "keepalive": 2},
    })
    engine = open_db(f"sqlite:///{tmp_path / 'office.db'}")
    ingest = Ingest(config, engine)
    ingest.start()
    assert ingest.wait_connected(10)
    yield ingest
    ingest.stop()


def rows(engine: sa.Engine, table: sa.Table) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(*table.primary_key.columns)))


def test_ingest_stores_telemetry_and_survives_bad_messages(broker: Broker, office: Ingest, data_dir: Path) -> None:
    bus = EventBus()
    tel = Telemetry(station_config(broker.port, data_dir), station_snapshot=lambda: snapshot(), bus=bus,
                    office_verify_key=None, on_command=None, password=broker.passwords["kph-01"])
    tel.start()
    try:
        wait_for(lambda: (latest_status(office.engine, "kph-01") or {}).get("status"), 10, what="status stored")
        state = latest_status(office.engine, "kph-01")
        assert state["state"] == "online" and state["status"]["queue"]["pending"] == 3
        tel.publish_event("device_fault", "error", {"device": "camera"})
        wait_for(lambda: rows(office.engine, tdb.station_events), 5, what="event stored")
    finally:
        tel.stop()
    wait_for(lambda: latest_status(office.engine, "kph-01")["state"] == "offline", 5, what="offline stored")
    # The station's own user, as a bare client (it is one client id: the station is away meanwhile)
    raw = connect(broker, "kph-01")
    good = snapshot()
    other = {"schema": "jemput.status/1", "station": "kph-02", "district": "6106", "ts": "2030-01-01T00:00:00Z",
             "power": {}, "queue": {}, "devices": {}, "storage": {}}
    bad = [("status", b"{not json"), ("status", json.dumps({"schema": "other/1"})), ("status", json.dumps(other)),
           ("event", json.dumps({"type": "x"})), ("state", b"maybe"), ("event", b"x" * (64 * 1024 + 100))]
    for kind, payload in bad:
        publish(raw, PREFIX + kind, payload)
    publish(raw, PREFIX + "event", json.dumps({"type": "disk_low", "severity": "warning",
                                               "ts": "2030-01-01T00:00:00Z", "detail": {"free_mb": 100}}))
    wait_for(lambda: len(rows(office.engine, tdb.station_events)) == 2, 5, what="good event after bad ones")
    assert office.stats["rejected"] == 6
    assert office.stats["rejected:bad_json"] == 1 and office.stats["rejected:wrong_station"] == 1
    assert office.stats["rejected:oversized"] == 1 and office.stats["rejected:bad_state"] == 1
    assert office.stats["rejected:bad_schema"] == 2
    assert latest_status(office.engine, "kph-02") is None            # a station only reports about itself
    assert latest_status(office.engine, "kph-01")["status"]["queue"] == good["queue"]
    raw.disconnect()
    raw.loop_stop()
    states = [r.state for r in rows(office.engine, tdb.state_transitions)]
    assert states == ["online", "offline"]


def test_acl_confines_each_station_to_its_prefix(broker: Broker, office_listener: Listener) -> None:
    intruder = connect(broker, "kph-01")
    victim_cmds: list[str] = []
    intruder.on_message = lambda _c, _u, m: victim_cmds.append(m.topic)
    intruder.subscribe("jemput/v1/6106/kph-02/cmd/#", qos=1)
    intruder.subscribe(PREFIX + "cmd/#", qos=1)
    for kind in ("state", "status", "event"):
        publish(intruder, "jemput/v1/6106/kph-02/" + kind, b"online" if kind == "state" else b"{}")
    publish(intruder, PREFIX + "state", b"online")                      # its own prefix is allowed
    office = connect(broker, OFFICE_USER)
    publish(office, "jemput/v1/6106/kph-02/cmd/lock", b"{}")
    publish(office, PREFIX + "cmd/lock", b"{}")        # after the other one: once this arrives, that one would have
    wait_for(lambda: PREFIX + "cmd/lock" in victim_cmds, 5, what="own command")
    wait_for(lambda: office_listener.on(PREFIX + "state"), 5, what="own-prefix message")
    wait_for(lambda: office_listener.on("jemput/v1/6106/kph-02/cmd/lock"), 5, what="the office's command")
    assert [t for t, _p, _r in office_listener.messages if "/kph-02/" in t] == ["jemput/v1/6106/kph-02/cmd/lock"]
    assert victim_cmds == [PREFIX + "cmd/lock"]
    for user, password in (("kph-01", "wrong password"), ("nobody", "x")):
        bad = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        bad.username_pw_set(user, password)
        with pytest.raises(Exception):  # noqa: B017 - paho raises ConnectionRefused-like errors by version
            bad.connect("127.0.0.1", broker.port, keepalive=5)
            bad.loop_start()
            wait_for(bad.is_connected, 2)
        bad.loop_stop()
    for c in (intruder, office):
        c.disconnect()
        c.loop_stop()


def _spawn_station(tmp_path: Path, broker: Broker, snap: dict) -> subprocess.Popen[str]:
    snapshot_file = tmp_path / "snapshot.json"
    snapshot_file.write_text(json.dumps(snap))
    (tmp_path / "station" / "keys").mkdir(parents=True, exist_ok=True)
    (tmp_path / "station" / "keys" / "mqtt-password").write_text(broker.passwords["kph-01"] + "\n")
    spec = {"config": station_config_dict(broker.port, tmp_path / "station", keepalive=2),
            "snapshot_file": str(snapshot_file),
            "commands_file": str(tmp_path / "commands.jsonl")}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = Path(__file__).parent / "station_proc.py"
    with open(tmp_path / "station.log", "a") as log:
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "spec.json")],
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    # station_proc prints one line within 15 s either way, so this readline cannot hang
    assert proc.stdout.readline().strip() == "connected", (tmp_path / "station.log").read_text()[-2000:]
    return proc


def test_will_after_sigkill_and_broker_restart(broker: Broker, office: Ingest, tmp_path: Path) -> None:
    state = lambda: (latest_status(office.engine, "kph-01") or {}).get("state")  # noqa: E731
    proc = _spawn_station(tmp_path, broker, snapshot())
    try:
        wait_for(lambda: state() == "online", 5, what="online")
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        wait_for(lambda: state() == "offline", 8, what="offline via the last will")   # keepalive 2 s * 1.5
        proc = _spawn_station(tmp_path, broker, snapshot(power={"battery_percent": 44.0}, locked=True))
        wait_for(lambda: state() == "online", 5, what="online after restart")

        connects_before = office.stats["connects"]
        broker.kill()
        # the station's state changes while the broker is down (no bus event: only the reconnect makes it report)
        (tmp_path / "snapshot.json").write_text(json.dumps(snapshot(power={"battery_percent": 33.0}, locked=True)))
        broker.start()
        wait_for(lambda: office.stats["connects"] > connects_before, 40, what="office reconnect")
        fresh = Listener(broker.port, OFFICE_USER, broker.passwords[OFFICE_USER], topic=PREFIX + "#")
        try:
            # the station reconnects by itself and republishes: the retained copies match its state now
            wait_for(lambda: fresh.on(PREFIX + "state")[-1:] == [b"online"] and
                     [s["power"]["battery_percent"] for s in fresh.json_on(PREFIX + "status")][-1:] == [33.0],
                     40, what="retained state/status after broker restart")
            retained = fresh.json_on(PREFIX + "status")[-1]
            assert retained["locked"] is True and retained["station"] == "kph-01"
        finally:
            fresh.close()
        wait_for(lambda: state() == "online", 5)
        wait_for(lambda: latest_status(office.engine, "kph-01")["status"]["power"]["battery_percent"] == 33.0, 10,
                 what="office shows the station's current status")
    finally:
        proc.terminate()
        proc.wait(10)
    wait_for(lambda: state() == "offline", 8, what="offline after clean stop")


def _status(station: str, district: str) -> str:
    return json.dumps({"schema": "jemput.status/1", "station": station, "district": district,
                       "ts": "2030-01-01T00:00:00Z", "power": {}, "queue": {}, "devices": {}, "storage": {}})


EVENT = json.dumps({"type": "disk_low", "severity": "warning", "ts": "2030-01-01T00:00:00Z", "detail": {}})


@pytest.fixture
def unpinned_broker(tmp_path: Path):
    """A broker whose ACL leaves the district open (a set-up from before the ACL was pinned)."""
    b = Broker(tmp_path / "unpinned", district=None)
    b.start()
    yield b
    b.stop()


def test_a_cross_district_publish_is_refused_by_the_broker(broker: Broker) -> None:
    """The generated ACL is pinned to the office's district: kph-01 cannot publish under another district."""
    results: dict[str, Any] = {}
    kph01 = connect(broker, "kph-01")
    kph01.on_publish = lambda _c, _u, mid, reason, _p: results.__setitem__(mid, reason)
    try:
        denied = kph01.publish("jemput/v1/6107/kph-01/status", _status("kph-01", "6107"), qos=1)
        allowed = kph01.publish(PREFIX + "status", _status("kph-01", "6106"), qos=1)
        wait_for(lambda: denied.mid in results and allowed.mid in results, 5, what="both PUBACKs")
    finally:
        kph01.disconnect()
        kph01.loop_stop()
    assert not results[allowed.mid].is_failure          # 0, or 16 "no matching subscribers"
    assert results[denied.mid].is_failure and results[denied.mid].getName() == "Not authorized"


@pytest.fixture
def unpinned_office(unpinned_broker: Broker, tmp_path: Path):
    yield from office_fixture(unpinned_broker, tmp_path)


def test_ingest_rejects_messages_under_a_district_not_the_stations(unpinned_broker: Broker,
                                                                   unpinned_office: Ingest) -> None:
    """Defence in depth: with an ACL that lets kph-01 publish under jemput/v1/<any district>/kph-01/ (an older
    broker config), the ingest must still not believe it."""
    from office.stations import register_station

    broker, office = unpinned_broker, unpinned_office
    from station.keys import generate_signing_key, public_key_b64

    register_station(office.engine, "kph-01", public_key_b64(generate_signing_key()), "6106")
    spoof = "jemput/v1/6107/kph-01/"
    kph01, kph02 = connect(broker, "kph-01"), connect(broker, "kph-02")
    try:
        for kind, payload in (("state", "online"), ("status", _status("kph-01", "6107")), ("event", EVENT),
                              ("reply/abc", json.dumps({"id": "abc", "ok": True}))):
            publish(kph01, spoof + kind, payload)                     # registered in 6106: all four refused
        # kph-02 is not registered: its first accepted status fixes its district (6106)
        publish(kph02, "jemput/v1/6106/kph-02/status", _status("kph-02", "6106"))
        publish(kph02, "jemput/v1/6107/kph-02/event", EVENT)
        publish(kph02, "jemput/v1/6107/kph-02/status", _status("kph-02", "6107"))
        publish(kph01, PREFIX + "event", EVENT)                       # its own district still works
        publish(kph02, "jemput/v1/6106/kph-02/event", EVENT)
        wait_for(lambda: len(rows(office.engine, tdb.station_events)) == 2, 5, what="the two good events")
        wait_for(lambda: office.stats["rejected:wrong_district"] == 6, 5, what="six spoofed messages counted")
    finally:
        for client in (kph01, kph02):
            client.disconnect()
            client.loop_stop()
    assert office.stats["rejected"] == 6
    assert {(r.station, r.district) for r in rows(office.engine, tdb.station_events)} == {
        ("kph-01", "6106"), ("kph-02", "6106")}
    assert latest_status(office.engine, "kph-01") is None or latest_status(office.engine, "kph-01")["status"] is None
    assert latest_status(office.engine, "kph-02")["district"] == "6106"
    assert all(r.district == "6106" for r in rows(office.engine, tdb.station_status))
