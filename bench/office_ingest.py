"""Office ingest throughput: status messages/s stored from N simulated stations through a real Mosquitto, against
a bare paho subscriber that only parses the JSON (the baseline), same broker, same load, same run.

Each simulated station is its own MQTT client with its own broker credentials (generated config, ACL on) and
publishes M status messages (QoS 1, retained, DESIGN §7 shape, increasing timestamps so every one is a new history
row). Phase 1 measures the bare subscriber, phase 2 the ingest (validation + SQLite writes, WAL, synchronous=FULL)
until every message is stored. Goal: ingest / bare >= 0.8.

    .venv/bin/python bench/office_ingest.py [--stations N] [--messages M]
"""

from __future__ import annotations

import argparse
import getpass
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "link"))

from conftest import free_port, wait_for  # noqa: E402
from link_helpers import snapshot  # noqa: E402

from office.config import office_config_from_dict  # noqa: E402
from office.db import open_db  # noqa: E402
from office.ingest import Ingest  # noqa: E402
from office.mosquitto import OFFICE_USER, generate_config  # noqa: E402
from station.telemetry_status import build_status  # noqa: E402

BASE_TS = datetime(2030, 1, 1, tzinfo=UTC)


def client(port: int, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{free_port()}", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    wait_for(c.is_connected, 10, what=f"{user} connected")
    return c


def publish_all(port: int, passwords: dict[str, str], stations: list[str], messages: int,
                round_no: int) -> tuple[float, float]:
    """Every station publishes ``messages`` statuses as fast as QoS 1 allows (clients connected beforehand);
    returns (monotonic time publishing started, seconds until all PUBACKed)."""
    clients = {s: client(port, s, passwords[s]) for s in stations}
    payloads = {s: [json.dumps(build_status(snapshot(uptime_s=i), station=s, district="6106",
                                            now=BASE_TS + timedelta(seconds=round_no * messages + i)))
                    for i in range(messages)] for s in stations}
    started = time.monotonic()
    infos = []

    def run(s: str) -> None:
        for p in payloads[s]:
            infos.append(clients[s].publish(f"jemput/v1/6106/{s}/status", p, qos=1, retain=True))

    threads = [threading.Thread(target=run, args=(s,)) for s in stations]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for info in infos:
        info.wait_for_publish(timeout=60)
    elapsed = time.monotonic() - started
    for c in clients.values():
        c.disconnect()
        c.loop_stop()
    return started, elapsed


def bare_subscriber(port: int, password: str, expected: int) -> tuple[mqtt.Client, dict]:
    state = {"count": 0, "first": None, "last": None}

    def on_message(_c, _u, msg) -> None:
        json.loads(msg.payload)
        state["count"] += 1
        now = time.monotonic()
        state["first"] = state["first"] or now
        state["last"] = now

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bare", protocol=mqtt.MQTTv5)
    c.username_pw_set(OFFICE_USER, password)
    subscribed = threading.Event()
    c.on_connect = lambda cl, *_a: cl.subscribe("jemput/v1/+/+/#", qos=1)
    c.on_subscribe = lambda *_a: subscribed.set()
    c.on_message = on_message
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    subscribed.wait(10)
    return c, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=400, help="status messages per station")
    args = parser.parse_args()
    stations = [f"kph-{i:02d}" for i in range(1, args.stations + 1)]
    total = len(stations) * args.messages
    with tempfile.TemporaryDirectory(prefix="jemput-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        passwords = generate_config(work / "mq", port=port, users=stations, persistence=False,
                                    run_as_user=getpass.getuser())
        broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(work / "mq" / "mosquitto.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            # phase 1: bare subscriber (parse only)
            bare, state = bare_subscriber(port, passwords[OFFICE_USER], total)
            started, publish_s = publish_all(port, passwords, stations, args.messages, 0)
            wait_for(lambda: state["count"] >= total, 120, what="bare subscriber got everything")
            bare_s = state["last"] - started
            bare.disconnect()
            bare.loop_stop()
            # phase 2: the ingest (validate + store); retained copies from phase 1 arrive first and are older
            config = office_config_from_dict({"office": {"district": "6106", "data_dir": str(work / "office")},
                                              "mqtt": {"host": "127.0.0.1", "port": port, "tls": False,
                                                       "username": OFFICE_USER,
                                                       "password": passwords[OFFICE_USER]}})
            ingest = Ingest(config, open_db(f"sqlite:///{work / 'office.db'}"))
            ingest.start()
            ingest.wait_connected(10)
            wait_for(lambda: ingest.stats["stored"] >= len(stations), 30, what="retained statuses")
            before = ingest.stats["stored"]
            started, _ = publish_all(port, passwords, stations, args.messages, 1)
            wait_for(lambda: ingest.stats["stored"] - before >= total, 300, interval_s=0.002,
                     what="ingest stored everything")
            ingest_s = time.monotonic() - started
            stats = dict(ingest.stats)
            ingest.stop()
        finally:
            broker.terminate()
            broker.wait(10)
    bare_rate, ingest_rate = total / bare_s, total / ingest_s
    print(f"{len(stations)} stations x {args.messages} status messages = {total} (QoS 1, retained)")
    print(f"publishers alone:        {total / publish_s:8.0f} msg/s ({publish_s:.2f} s)")
    print(f"bare paho subscriber:    {bare_rate:8.0f} msg/s ({bare_s:.2f} s, first publish to last message)")
    print(f"office ingest (stored):  {ingest_rate:8.0f} msg/s ({ingest_s:.2f} s, first publish to last commit)")
    print(f"ratio ingest / bare:     {ingest_rate / bare_rate:8.2f}   (goal >= 0.8)")
    print(f"ingest counters: {stats}")


if __name__ == "__main__":
    main()
