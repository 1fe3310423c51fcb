"""Power to the end, on a station installed from a bundle, with the INA219 driver on its register-level fake and a
real Mosquitto speaking TLS with the certificates the office's CA issued: a drain from 30 % during an enrollment.
The record is committed, new enrollments are refused at 10 %, a 0.0 V reading is a fault (no shutdown), mains
back cancels a pending shutdown, and `systemctl poweroff` runs once — after the final status and event reached the
office and the store was closed."""

from __future__ import annotations

import json
import os
import sqlite3
import ssl
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from link_broker import Broker, wait_for
from paho.mqtt.enums import CallbackAPIVersion
from prov_helpers import ProvOffice, start_office

from device_drivers.battery import INA219Battery
from device_drivers.battery.fakes import FakeINA219Bus
from office.ca import ca_dir
from office.mosquitto import TlsFiles
from station import runtime
from station.config import load_config
from station.enrollment_checks import StartRefused
from station.events import EventBus
from station.roster import find_by_nik
from station.service import serve
from station.sessions import open_session

sys.path.insert(0, str(Path(__file__).parents[1] / "enrollment"))
from helpers import Payloads, run_to_review  # noqa: E402

pytestmark = pytest.mark.timeout(180)
PREFIX = "jemput/v1/6106/kph-07/"


def volts(percent: float) -> float:
    """The 2-cell pack's voltage for a charge (DESIGN §4: percent = (V - 6.0) / 2.4)."""
    return 6.0 + 2.4 * percent / 100


class Devices:
    """The station's device hub, reduced to the battery (camera and serial parts are not what this is about)."""

    def __init__(self, battery: INA219Battery) -> None:
        self.battery = battery

    def health(self) -> dict:
        return {"battery": {"health": "ok", "reason": ""}}


class OfficeEar:
    """The office's MQTT client (its own CA-issued certificate), recording what arrives and when."""

    def __init__(self, port: int, ca: Path) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="jemput-office", protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(ca / "mqtt-ca.pem"), certfile=str(ca / "mqtt-office.pem"),
                            keyfile=str(ca / "mqtt-office.key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_message = lambda _c, _u, m: self.messages.append((time.time(), m.topic, m.payload))
        self.client.on_connect = lambda c, *_a: c.subscribe("jemput/v1/#", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def on(self, topic: str) -> list[tuple[float, bytes]]:
        return [(t, p) for t, tp, p in self.messages if tp == PREFIX + topic]

    def events(self) -> list[tuple[float, dict]]:
        return [(t, json.loads(p)) for t, p in self.on("event")]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def installed(tmp_path: Path, root_image: Path):
    office = start_office(tmp_path)
    ca = ca_dir(office.config)
    broker = Broker(tmp_path / "broker", tls=TlsFiles(ca / "mqtt-ca.pem", ca / "mqtt-broker.pem",
                                                      ca / "mqtt-broker.key"))
    broker.start()
    text = office.config_path.read_text()
    office.config_path.write_text(text + f'mqtt_host = "127.0.0.1"\nmqtt_port = {broker.port}\n')
    yield office, broker, root_image
    broker.stop()
    office.server.stop()
    office.engine.dispose()


def bundle_with_power(office: ProvOffice, tmp_path: Path, root: Path) -> None:
    from station.cli import main

    bundle = office.bundle(tmp_path / "kph-07.jpb", extra_toml="[power]\nshutdown_grace_s = 1\n")
    assert main(["provision", "apply", str(bundle), "--passphrase-file", str(office.files / "passphrase"),
                 "--root", str(root)]) == 0


def test_drain_to_the_end_during_an_enrollment(installed, tmp_path: Path, monkeypatch) -> None:
    office, broker, root = installed
    bundle_with_power(office, tmp_path, root)
    config = load_config(root / "etc/jemput/station.toml")
    assert config.mqtt.tls and config.power.shutdown_grace_s == 1
    db_file = config.station.data_dir / "jemput.db"

    # `systemctl` as the real station calls it; this one writes down when, and whether the store was still open
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.log"
    (bin_dir / "systemctl").write_text(
        f'#!/bin/sh\nstate=closed\n[ -e "{db_file}-wal" ] && state=open\n'
        f'{sys.executable} -c "import time; print(time.time(), \'$*\', \'$state\')" >> "{calls}"\n')
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    chip = FakeINA219Bus(voltage_v=volts(30), current_a=-0.9)           # on battery, discharging
    battery = INA219Battery(chip)
    station = runtime.build_station(config, builders={
        "devices": lambda s, sim: Devices(battery), "power": runtime._build_power,
        "telemetry": runtime._build_telemetry})
    assert station.poweroff_command is runtime_poweroff()
    station.power.poll_interval_s = 3600.0                              # the test polls, at the moments it chooses
    ear = OfficeEar(broker.port, ca_dir(office.config))
    events = station.bus.subscribe("power.")
    stop = threading.Event()
    loop = threading.Thread(target=serve, args=(station, stop), kwargs={"start_frontends": None}, daemon=True)
    loop.start()
    try:
        wait_for(lambda: ear.on("state") and ear.on("state")[-1][1] == b"online", 20, what="station online")
        assert station.power.poll().battery_percent == pytest.approx(30, abs=0.5)

        with station.db_lock:
            from station.operators import list_operators

            operator = next(o for o in list_operators(station.conn) if o.username == "siti")
            nik = station.conn.execute("SELECT nik FROM residents ORDER BY nik LIMIT 2").fetchall()
            first, second = (find_by_nik(station.conn, row[0]) for row in nik)
            session = open_session(station.conn, first.kode_desa, operator)
        draft = station.enrollment.start(session.id, first, operator)
        payloads = Payloads.random(size=4096, seed=7)
        for percent in (25, 18, 12, 9.5):                                # the drain goes on while the resident sits
            chip.voltage_v = volts(percent)
            station.power.poll()
        assert station.power.snapshot().level == "stop"
        with pytest.raises(StartRefused) as refused:                      # no new enrollment at 10 %
            station.enrollment.start(session.id, second, operator)
        assert refused.value.kind == "battery"
        run_to_review(station.enrollment, draft.id, payloads, operator)   # the one in progress is finished
        packet_id = station.enrollment.finish(draft.id)
        assert [i.packet_id for i in station.outbox.pending()] == [packet_id]

        chip.voltage_v = 0.0                                              # the UPS HAT's gauge fault
        for _ in range(5):
            snap = station.power.poll()
        assert "implausible" in snap.fault and snap.level == "stop" and not station.power.shutdown_called
        assert not calls.exists() and not station.poweroff_requested.is_set()

        chip.voltage_v = volts(4.5)                                       # really empty now
        assert station.power.poll().level == "shutdown" and station.power.shutdown_pending
        chip.current_a = 0.7                                              # the generator comes back in time
        assert station.power.poll().level == "ok" and not station.power.shutdown_pending
        chip.current_a = -0.9                                             # and goes again
        station.power.poll()
        time.sleep(1.1)                                                   # the grace period passes
        station.power.poll()
        loop.join(60)
        assert not loop.is_alive(), "the main loop did not end for the power-off"
    finally:
        stop.set()
        loop.join(30)
        ear.close()
    seen = []
    while (event := events.get(timeout_s=0)) is not None:
        seen.append(event.topic)
    assert seen.count("power.shutdown_pending") == 2 and seen.count("power.shutdown_cancelled") == 1
    assert seen.count("power.shutdown") == 1

    lines = calls.read_text().splitlines()
    assert len(lines) == 1, lines                                          # once
    ran_at, args, store_state = lines[0].split(" ", 1)[0], lines[0].split()[1], lines[0].split()[2]
    assert args == "poweroff" and store_state == "closed"
    shutdown_events = [(t, e) for t, e in ear.events() if e["type"] == "power_shutdown"]
    assert len(shutdown_events) == 1 and shutdown_events[0][1]["severity"] == "critical"
    final_status = ear.on("status")[-1]
    offline = ear.on("state")[-1]
    assert offline[1] == b"offline"
    assert max(shutdown_events[0][0], final_status[0], offline[0]) <= float(ran_at)
    status = json.loads(final_status[1])
    assert status["power"]["battery_percent"] == pytest.approx(4.5, abs=0.5) and status["queue"]["pending"] == 1
    # the record survived it all: a fresh look at the store after the power-off
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT packet_id, state FROM outbox").fetchall() == [(packet_id, "sealed")]


def runtime_poweroff():
    from station.power import systemctl_poweroff

    return systemctl_poweroff


def test_impossible_readings_never_shut_down() -> None:
    from station.config import PowerSection
    from station.power import PowerPolicy

    chip = FakeINA219Bus(voltage_v=volts(50), current_a=-0.5)
    calls = []
    policy = PowerPolicy(PowerSection(), INA219Battery(chip), EventBus(), lambda: calls.append(1))
    assert policy.poll().level == "ok"
    for voltage in (0.0, 0.4, float("nan")):
        chip.voltage_v = voltage if voltage == voltage else 0.0
        snap = policy.poll()
        assert snap.fault.startswith("implausible") and snap.level == "ok" and snap.battery_percent == 50.0
    chip.voltage_v = volts(3)
    assert policy.poll().level == "shutdown" and calls == [1]
