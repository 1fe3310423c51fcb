"""Kiosk UI latency: main pages and Server-Sent Events under a kiosk plus two operator clients.

Builds a real station (simulated devices behind the real drivers, real SQLite with the demo roster), serves the UI
with waitress on a free loopback port, logs three clients in (each keeps an SSE stream open, as a browser does) and
has them fetch the main pages concurrently. Events are published on the station's bus with a send time and timed
to their arrival on every client's stream: ``pen.*`` (live, passed straight through) and ``device.*`` (status,
coalesced every 0.5 s by design). Baseline in the same run: a static file (CSS) from the same server.

    .venv/bin/python bench/ui_latency.py [--requests 150]

Goal: p95 of every page < 50 ms. Printed figures only; this is not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from station import keys  # noqa: E402
from station.config import config_from_dict  # noqa: E402
from station.demo_data import seed_demo  # noqa: E402
from station.runtime import build_station, init_station  # noqa: E402

PAGES = ["/", "/search", "/queue", "/report", "/api/nik?nik={nik}", "/api/names?q=A", "/api/status"]
BASELINE = "/static/css/kiosk.css"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One browser: a keep-alive connection, the session cookie, the CSRF token."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read().decode("utf-8", "replace")
        cookie = resp.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return resp.status, data

    def login(self, pin: str) -> None:
        _, html = self.request("GET", "/login/demo")
        token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        status, _ = self.request("POST", "/login/demo", f"pin={pin}&csrf_token={token}")
        assert status == 302, f"login failed: {status}"

    def timed(self, path: str, n: int, out: list[float]) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            status, _ = self.request("GET", path)
            out.append((time.perf_counter() - t0) * 1000)
            assert status == 200, f"{path}: {status}"


class SseReader(threading.Thread):
    """Reads the event stream; for events carrying ``t0`` records arrival - t0 in ms, by topic."""

    def __init__(self, port: int, cookie: str) -> None:
        super().__init__(daemon=True)
        self.port, self.cookie = port, cookie
        self.delays: dict[str, list[float]] = {}
        self.device_events: list[tuple[float, str]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/api/events", headers={"Cookie": self.cookie, "Accept": "text/event-stream"})
        resp = conn.getresponse()
        self.ready.set()
        while True:
            line = resp.fp.readline()
            if not line:
                return
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[6:])
            if event["topic"].startswith("device.fingerprint"):
                self.device_events.append((time.monotonic(), event["data"].get("health")))
            t0 = event["data"].get("t0")
            if t0 is not None:
                self.delays.setdefault(event["topic"], []).append((time.monotonic() - t0) * 1000)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def build(tmp: Path) -> tuple[object, object]:
    from station.devices import DeviceHub
    from ui.server import KioskServer

    _secret, recipient = keys.generate_age_identity()
    _bio_secret, bio_recipient = keys.generate_age_identity()
    config = config_from_dict({
        "station": {"id": "bench-01", "district": "6106", "data_dir": str(tmp / "data")},
        "ui": {"port": free_port()}, "office": {"public_key": recipient, "biometrics_key": bio_recipient},
    })
    init_station(config)
    station = build_station(config, simulate=True, builders={
        "devices": lambda st, sim: DeviceHub(st.config, st.bus, simulate=True, pace=False),
    })
    station.start()
    with station.db_lock:
        station.demo = seed_demo(station.conn, "6106")
    return station, KioskServer(station).start()


def device_to_browser(station: object, readers: list[SseReader], rounds: int = 6) -> list[float]:
    """Unplug/replug the emulated fingerprint sensor; time until every client's stream says so (ms)."""
    sim = station.devices.simulator
    delays: list[float] = []
    for _ in range(rounds):
        for action, back in ((sim.unplug, False), (sim.replug, True)):
            t0 = time.monotonic()
            action("fingerprint")
            deadline = t0 + 10
            for r in readers:
                while time.monotonic() < deadline:
                    seen = [t for t, h in r.device_events if t >= t0 and (h == "ok") == back]
                    if seen:
                        delays.append((seen[0] - t0) * 1000)
                        break
                    time.sleep(0.005)
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150, help="requests per page per client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        station, server = build(Path(tmp))
        try:
            return run(station, server, args.requests)
        finally:
            server.stop()
            station.stop()


def run(station: object, server: object, n: int) -> int:
    clients = [Client(server.port) for _ in range(3)]  # the kiosk and two operator tablets
    for c in clients:
        c.login(station.demo.pin)
    _, html = clients[0].request("GET", "/session/open")
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    clients[0].request("POST", "/session/open", f"kode_desa={station.demo.villages[0]}&csrf_token={token}")
    readers = [SseReader(server.port, c.cookie) for c in clients]
    for r in readers:
        r.start()
        r.ready.wait(5)
    time.sleep(0.3)

    stop = threading.Event()

    def publisher() -> None:
        i = 0
        while not stop.is_set():
            station.bus.publish("pen.points", draft_id="bench", points=[[0.1, 0.2, 1]], t0=time.monotonic())
            if i % 20 == 0:
                station.bus.publish("device.bench", health="ok", t0=time.monotonic())
            i += 1
            stop.wait(0.05)

    pub = threading.Thread(target=publisher, daemon=True)
    pub.start()
    nik = station.demo.sample_niks[0]
    results: dict[str, list[float]] = {}
    for path in [BASELINE] + [p.format(nik=nik) for p in PAGES]:
        samples: list[list[float]] = [[] for _ in clients]
        threads = [threading.Thread(target=c.timed, args=(path, n, s)) for c, s in zip(clients, samples, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results[path] = [x for s in samples for x in s]
    stop.set()
    pub.join()
    time.sleep(0.6)

    report(results, readers, n)
    device = device_to_browser(station, readers)
    if device:
        print(f"{'device unplug -> browser (SSE)':32} {statistics.median(device):8.1f} {pct(device, 0.95):8.1f}"
              f"   ({len(device)} events; emulated sensor, hub monitor, coalesced push)")
    worst = max(pct(v, 0.95) for path, v in results.items() if path != BASELINE)
    verdict = "met" if worst < 50 else "NOT met"
    print(f"goal p95 page < 50 ms: {verdict} (worst page p95 {worst:.1f} ms)")
    return 0


def report(results: dict[str, list[float]], readers: list[SseReader], n: int) -> None:
    base95 = pct(results[BASELINE], 0.95)
    print(f"kiosk UI latency: 3 clients (each with an open SSE stream), {n} requests per page per client")
    print(f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'p95/static':>11}")
    for path, values in results.items():
        p95 = pct(values, 0.95)
        print(f"{path[:32]:32} {statistics.median(values):8.1f} {p95:8.1f} {p95 / base95:11.1f}x")
    for topic, label in (("pen.points", "SSE live (pen.*)"), ("device.bench", "SSE status (device.*, coalesced)")):
        delays = [d for r in readers for d in r.delays.get(topic, [])]
        if delays:
            print(f"{label:32} {statistics.median(delays):8.1f} {pct(delays, 0.95):8.1f}   ({len(delays)} events)")
        else:
            print(f"{label:32}  no events arrived")


if __name__ == "__main__":
    raise SystemExit(main())
