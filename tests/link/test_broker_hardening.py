"""The broker set-up against the attacks and field cases of DESIGN §7, on a real Mosquitto: no station can take
over another's connection, the generated files work when Mosquitto starts as root and drops to ``--user``, and a
command sent while a station is away reaches it when it comes back in time (persistent sessions)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from link_broker import MOSQUITTO, OBSERVERS, Broker, Listener, free_port, wait_for
from link_helpers import snapshot, station_config
from paho.mqtt.enums import CallbackAPIVersion

from office.config import office_config_from_dict
from office.db import open_db
from office.ingest import Ingest
from office.mosquitto import OFFICE_USER, mosquitto_config_command
from station.events import EventBus
from station.telemetry import Telemetry

PREFIX = "jemput/v1/6106/kph-01/"


def station(broker_port: int, password: str, data_dir: Path, *, verify_key: str = "", on_command=None) -> Telemetry:
    return Telemetry(station_config(broker_port, data_dir, verify_key=verify_key), station_snapshot=snapshot,
                     bus=EventBus(), office_verify_key=verify_key or None, on_command=on_command, password=password)


def test_a_client_with_another_stations_id_cannot_disconnect_it(broker: Broker, office_listener: Listener,
                                                                data_dir: Path) -> None:
    victim = station(broker.port, broker.passwords["kph-01"], data_dir)
    victim.start()
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kph-01", protocol=mqtt.MQTTv5)
    intruder.username_pw_set("kph-02", broker.passwords["kph-02"])        # its own valid login, the victim's id
    try:
        assert victim.wait_connected(10)
        wait_for(lambda: office_listener.on(PREFIX + "state") == [b"online"], 5, what="victim online")
        intruder.connect("127.0.0.1", broker.port, keepalive=5)
        intruder.loop_start()
        wait_for(intruder.is_connected, 5, what="intruder connected")
        threading.Event().wait(1.5)                                       # time for a take-over to show
        assert victim.connected and victim.stats["connects"] == 1
        assert office_listener.on(PREFIX + "state") == [b"online"]        # the office never saw it go offline
    finally:
        intruder.disconnect()
        intruder.loop_stop()
        victim.stop()


@pytest.fixture
def office_ingest(broker: Broker, tmp_path: Path) -> Iterator[Ingest]:
    config = office_config_from_dict({
        "office": {"district": "6106", "data_dir": str(tmp_path / "office")},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "tls": False, "username": OFFICE_USER,
                 "password": broker.passwords[OFFICE_USER], "keepalive": 2}})
    ingest = Ingest(config, open_db(f"sqlite:///{tmp_path / 'office.db'}"))
    ingest.start()
    assert ingest.wait_connected(10)
    yield ingest
    ingest.stop()


def test_a_command_sent_while_the_station_is_away_arrives_when_it_returns(
        broker: Broker, office_listener: Listener, office_ingest: Ingest, data_dir: Path, office_keys) -> None:
    office_key, office_pub = office_keys
    received: list[tuple[str, dict]] = []
    first = station(broker.port, broker.passwords["kph-01"], data_dir, verify_key=office_pub,
                    on_command=lambda name, args: received.append((name, args)) or {})
    first.start()
    assert first.wait_connected(10)
    first.stop()                                                   # the station leaves coverage (or restarts)
    wait_for(lambda: office_listener.on(PREFIX + "state")[-1:] == [b"offline"], 5, what="station offline")
    in_time = office_ingest.send_command("6106", "kph-01", "requeue", {"all_rejected": True}, office_key=office_key,
                                         lifetime_s=300)
    stale = office_ingest.send_command("6106", "kph-01", "message", {"text": "too late"}, office_key=office_key,
                                       lifetime_s=1)
    threading.Event().wait(2.5)                                    # the second command's lifetime passes
    back = station(broker.port, broker.passwords["kph-01"], data_dir, verify_key=office_pub,
                   on_command=lambda name, args: received.append((name, args)) or {})
    back.start()
    try:
        wait_for(lambda: received, 10, what="the queued command")
        reply = wait_for(lambda: office_listener.json_on(PREFIX + "reply/" + in_time), 5, what="its reply")[0]
        assert reply["ok"] is True
        threading.Event().wait(0.5)
        assert received == [("requeue", {"all_rejected": True})]     # the expired one is never carried out
        assert not office_listener.on(PREFIX + "reply/" + stale) or \
            office_listener.json_on(PREFIX + "reply/" + stale)[0]["error"] == "expired"
    finally:
        back.stop()


def _run_as() -> str:
    for name in ("mosquitto", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.fail("neither a 'mosquitto' nor a 'nobody' account exists to run the broker as")


def test_the_generated_config_works_with_the_broker_started_as_root_with_user(data_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test starts Mosquitto as root (as systemd does): run the suite as root (make test)")
    user = _run_as()
    account = pwd.getpwnam(user)
    base = Path(tempfile.mkdtemp(prefix="jemput-mq-", dir="/tmp"))   # a path the dropped user can traverse
    os.chmod(base, 0o755)
    out = base / "mq"
    port = free_port()
    proc = None
    try:
        result = CliRunner().invoke(mosquitto_config_command, [
            "--out", str(out), "--station", "kph-01", "--port", str(port), "--bind", "127.0.0.1",
            "--district", "6106", "--user", user, "--office-user", OFFICE_USER, "--office-user", OBSERVERS[0]])
        assert result.exit_code == 0, result.output
        for name, mode in (("passwd", 0o600), ("acl", 0o600), ("data", 0o700), (".", 0o700)):
            st = (out / name).stat()
            assert (st.st_uid, st.st_mode & 0o777) == (account.pw_uid, mode), name
        creds = out / "credentials"
        assert creds.stat().st_uid == 0 and creds.stat().st_mode & 0o777 == 0o700   # provisioning's, not the broker's
        passwords = {p.name: p.read_text().strip() for p in creds.iterdir()}
        log = open(base / "mosquitto.log", "wb")   # noqa: SIM115 - closed below
        proc = subprocess.Popen([MOSQUITTO, "-c", str(out / "mosquitto.conf")], stdout=log, stderr=log)
        wait_for(lambda: proc.poll() is not None or _listening(port), 10, what="broker listening")
        assert proc.poll() is None, (base / "mosquitto.log").read_text()
        uid_line = next(line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                        if line.startswith("Uid:"))
        assert int(uid_line.split()[1]) == account.pw_uid                # it did drop to the user
        listener = Listener(port, OBSERVERS[0], passwords[OBSERVERS[0]])
        tel = station(port, passwords["kph-01"], data_dir)
        tel.start()
        try:
            assert tel.wait_connected(10)
            wait_for(lambda: listener.json_on(PREFIX + "status"), 10, what="status through the broker")
        finally:
            tel.stop()
            listener.close()
        proc.terminate()
        assert proc.wait(10) == 0
        text = (base / "mosquitto.log").read_text()
        assert "Unable" not in text and "Error" not in text, text
        assert (out / "data" / "mosquitto.db").exists()                 # it could write its persistence
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
