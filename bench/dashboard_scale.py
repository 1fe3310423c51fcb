"""Dashboard at district scale: the station list page and its JSON, and the live (SSE) fan-out, on SQLite and on
PostgreSQL (the tests' throw-away cluster).

Data: N registered stations (default 500) with D days of status history at one status a minute (default 7 days:
~5M rows), their latest status, 100 open alerts. Measured over real HTTP against the office under waitress:
``GET /`` and ``GET /api/v1/dashboard/stations`` p50/p95 (logged in), and, with 20 dashboards holding the SSE
stream open, the delay from a status published to Mosquitto until each dashboard has the station's new row
(through the real ingest, its commit and the live notification). Goals: list p95 < 200 ms, SSE p95 < 1 s.
The baseline printed beside each figure is the same request for the health probe (``/api/v1/health``): the cost
of the HTTP stack alone in the same run.

    .venv/bin/python bench/dashboard_scale.py [--stations 500] [--days 7] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import functools
import getpass
import http.cookiejar
import io
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "link"))

from link_broker import free_port, wait_for  # noqa: E402
from link_helpers import snapshot  # noqa: E402

from office import alerts, fleet, users  # noqa: E402
from office import db as office_db  # noqa: E402
from office import telemetry_db as tdb  # noqa: E402
from office.config import office_config_from_dict  # noqa: E402
from office.db import open_db  # noqa: E402
from office.ingest import Ingest  # noqa: E402
from office.keys import init_office_keys  # noqa: E402
from office.mosquitto import OFFICE_USER, generate_config  # noqa: E402
from office.server import OfficeServer  # noqa: E402
from office.web import attach_ingest  # noqa: E402
from station.telemetry_status import build_status  # noqa: E402

DESA = ["61.06.01.2004", "61.06.01.2005", "61.06.02.2001", "61.06.03.2002", "61.06.04.2003"]
LIVE_STATION = "kph-0001"
DASHBOARDS = 20
REQUESTS = 60


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def fill(engine: sa.Engine, stations: list[str], days: int) -> float:
    """Registry, latest statuses, ``days`` of history per station at one a minute, 100 open alerts."""
    started = time.monotonic()
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(6106)
    with engine.begin() as conn:
        conn.execute(office_db.stations.insert(), [
            {"id": s, "district": "6106", "public_key_b64": "A" * 43 + "=", "token_hash": f"{i:064x}",
             "created_at": now, "active": True} for i, s in enumerate(stations)])
        rows = []
        for i, s in enumerate(stations):
            snap = snapshot(session={"id": f"s{i}", "desa": DESA[i % len(DESA)], "enrolled": i % 40},
                            power={"battery_percent": float(rng.randint(5, 100)), "on_mains": i % 3 == 0})
            status = build_status(snap, station=s, district="6106", now=now)
            rows.append({"station": s, "district": "6106", "state": "online" if i % 5 else "offline",
                         "state_changed_at": now, "status_ts": status["ts"], "status_json": json.dumps(status),
                         "received_at": now})
        conn.execute(tdb.station_status.insert(), rows)
        conn.execute(alerts.alerts_table.insert(), [
            {"station": stations[i * 3 % len(stations)], "rule": "battery_low", "severity": "bad",
             "raised_at": now - timedelta(minutes=i), "detail_json": '{"battery_percent": 12}'} for i in range(100)])
    minutes = days * 1440
    if engine.dialect.name == "postgresql":
        _copy_history_pg(engine, stations, minutes, now)
    else:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for s in stations:
                cur.executemany(
                    "INSERT INTO telemetry_history (station, ts, battery_percent, on_mains, queue_pending, "
                    "queue_pending_bytes) VALUES (?, ?, ?, ?, ?, ?)",
                    ((s, _ts(now, m, minutes), 50.0 + (m % 50), m % 2 == 0, m % 7, m * 1000)
                     for m in range(minutes)))
            raw.commit()
        finally:
            raw.close()
    return time.monotonic() - started


def _ts(now: datetime, m: int, minutes: int) -> str:
    return (now - timedelta(minutes=minutes - m)).isoformat().replace("+00:00", "Z")


def _copy_history_pg(engine: sa.Engine, stations: list[str], minutes: int, now: datetime) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy("COPY telemetry_history (station, ts, battery_percent, on_mains, queue_pending, "
                      "queue_pending_bytes) FROM STDIN") as copy:
            for s in stations:
                buf = io.StringIO()
                for m in range(minutes):
                    buf.write(f"{s}\t{_ts(now, m, minutes)}\t{50.0 + (m % 50)}\t{'t' if m % 2 == 0 else 'f'}\t"
                              f"{m % 7}\t{m * 1000}\n")
                copy.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()


class Session:
    """A logged-in dashboard user over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        html = self.opener.open(base + "/login", timeout=30).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        form = urllib.parse.urlencode({"username": "kepala", "password": "bench-password-1",
                                       "csrf_token": token}).encode()
        self.opener.open(base + "/login", data=form, timeout=30).read()

    def time_get(self, path: str) -> float:
        started = time.perf_counter()
        with self.opener.open(self.base + path, timeout=60) as resp:
            resp.read()
            assert resp.status == 200
        return (time.perf_counter() - started) * 1000


class Dashboard(threading.Thread):
    """One open dashboard: reads the SSE stream and notes when each ``battery_percent`` of LIVE_STATION arrives."""

    def __init__(self, session: Session) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.seen: dict[int, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        with self.session.opener.open(self.session.base + "/events", timeout=120) as resp:
            event = None
            for raw in resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "hello":
                        self.ready.set()
                elif line.startswith("data: ") and event == "station":
                    data = json.loads(line[6:])
                    if data["id"] == LIVE_STATION:
                        m = re.search(r"(\d+)%", data["row"])
                        if m:
                            self.seen.setdefault(int(m.group(1)), time.monotonic())


def measure(db_url: str, work: Path, stations: list[str], days: int, broker_port: int,
            passwords: dict[str, str]) -> dict[str, Any]:
    config = office_config_from_dict({
        "office": {"district": "6106", "data_dir": str(work), "port": 0, "threads": DASHBOARDS + 8,
                   "database_url": db_url},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "tls": False, "username": OFFICE_USER,
                 "password": passwords[OFFICE_USER]},
    })
    keys = init_office_keys(config.keys_dir)
    engine = open_db(config.database_url)
    alerts.create_alert_tables(engine)
    fill_s = fill(engine, stations, days)
    with engine.connect() as conn:
        history_rows = conn.execute(sa.select(sa.func.count()).select_from(tdb.status_history)).scalar()
    users.add_user(engine, "kepala", "bench-password-1", "admin")
    server = OfficeServer(config, engine, keys).start()
    ingest = Ingest(config, engine)
    ingest.start()
    attach_ingest(server.app, ingest)
    ingest.wait_connected(10)
    out: dict[str, Any] = {"fill_s": fill_s, "history_rows": history_rows}
    try:
        s = Session(server.url)
        for path in ("/", "/api/v1/dashboard/stations", "/api/v1/health"):
            s.time_get(path)   # warm caches
        for name, path in (("page", "/"), ("json", "/api/v1/dashboard/stations"), ("health", "/api/v1/health"),
                           ("station", f"/stations/{LIVE_STATION}"),
                           ("chart7d", f"/api/v1/dashboard/stations/{LIVE_STATION}/battery?range=7d")):
            times = [s.time_get(path) for _ in range(REQUESTS if name in ("page", "json", "health") else 20)]
            out[name] = (statistics.median(times), pct(times, 0.95))
        assert len(fleet.fleet_rows(engine, "6106")) == len(stations)
        boards = [Dashboard(Session(server.url)) for _ in range(DASHBOARDS)]
        for b in boards:
            b.start()
        for b in boards:
            b.ready.wait(30)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=LIVE_STATION, protocol=mqtt.MQTTv5)
        pub.username_pw_set(LIVE_STATION, passwords[LIVE_STATION])
        pub.connect("127.0.0.1", broker_port)
        pub.loop_start()
        wait_for(pub.is_connected, 10, what="publisher")
        sent: dict[int, float] = {}
        for i, percent in enumerate(range(90, 60, -1)):
            status = build_status(snapshot(power={"battery_percent": float(percent), "on_mains": False}),
                                  station=LIVE_STATION, district="6106",
                                  now=datetime.now(UTC) + timedelta(seconds=i))
            sent[percent] = time.monotonic()
            pub.publish(f"jemput/v1/6106/{LIVE_STATION}/status", json.dumps(status), qos=1).wait_for_publish(10)
            time.sleep(0.3)
        time.sleep(2)
        delays = [(b.seen[p] - t) * 1000 for b in boards for p, t in sent.items() if p in b.seen]
        missing = sum(1 for b in boards for p in sent if p not in b.seen)
        out["sse"] = (statistics.median(delays), pct(delays, 0.95), len(delays), missing) if delays else (
            float("nan"), float("nan"), 0, missing)
        pub.disconnect()
        pub.loop_stop()
    finally:
        ingest.stop()
        server.stop()
        engine.dispose()
    return out


def report(name: str, r: dict[str, Any], stations: int, days: int) -> None:
    print(f"== {name}: {stations} stations, {r['history_rows']:,} history rows ({days} d at 1/min), 100 open alerts"
          f" (filled in {r['fill_s']:.0f} s)")
    base = r["health"][1]
    for key, label in (("page", "station list page  GET /"), ("json", "station list JSON       "),
                       ("station", "station page            "), ("chart7d", "battery chart 7 d JSON  "),
                       ("health", "health probe (baseline) ")):
        p50, p95 = r[key]
        goal = "   goal p95 < 200 ms" if key in ("page", "json") else ""
        print(f"  {label} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  ({p95 / base:5.1f}x baseline){goal}")
    p50, p95, n, missing = r["sse"]
    print(f"  SSE fan-out to {DASHBOARDS} dashboards: p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  ({n} deliveries, "
          f"{missing} coalesced into a later row)   goal p95 < 1000 ms")


print = functools.partial(print, flush=True)  # noqa: A001 - figures appear as they are measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--days", type=int, default=7, help="days of history at one status a minute")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    stations = [f"kph-{i:04d}" for i in range(1, args.stations + 1)]
    with tempfile.TemporaryDirectory(prefix="jemput-dash-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        port = free_port()
        passwords = generate_config(work / "mq", port=port, users=[LIVE_STATION], persistence=False,
                                    run_as_user=getpass.getuser())
        broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(work / "mq" / "mosquitto.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(broker.wait, 10)
        stack.callback(broker.terminate)
        time.sleep(0.5)
        if args.db in ("sqlite", "both"):
            r = measure(f"sqlite:///{work / 'office.db'}", work / "sqlite", stations, args.days, port, passwords)
            report("SQLite", r, len(stations), args.days)
        if args.db in ("postgresql", "both"):
            from tests.pg_server import postgres_server

            url = stack.enter_context(postgres_server())
            r = measure(url, work / "pg", stations, args.days, port, passwords)
            report("PostgreSQL", r, len(stations), args.days)


if __name__ == "__main__":
    main()
