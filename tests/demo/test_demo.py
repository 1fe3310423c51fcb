"""``jemput demo`` starts a broker, an office and a simulated station on loopback, and stops them cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa

JEMPUT = Path(sys.executable).parent / "jemput"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_until(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if needle in line:
                return "".join(seen)
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    raise AssertionError(f"{needle!r} not printed within {timeout_s} s; output:\n{''.join(seen)[-3000:]}")


def test_demo_runs_office_broker_and_station_then_stops(tmp_path):
    ui_port = free_port()
    proc = subprocess.Popen([str(JEMPUT), "demo", "--dir", str(tmp_path / "demo"), "--port", str(ui_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = read_until(proc, "Try NIK", 150)
        assert f"http://127.0.0.1:{ui_port}/" in banner
        assert "PIN 123456" in banner
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/login", timeout=10) as resp:
            assert resp.status == 200
            assert "Operator Demo" in resp.read().decode()  # the operator tile to log in with
        sim_url = next(line for line in banner.splitlines() if "simulator panel:" in line).split()[-1]
        with urllib.request.urlopen(sim_url, timeout=10) as resp:
            assert resp.status == 200  # the printed address works (the panel needs no login in simulate mode)
        office_line = next(line for line in banner.splitlines() if "office receiver:" in line)
        office_url = office_line.split()[-1]
        request = urllib.request.Request(office_url, method="OPTIONS")
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.headers["Tus-Version"] == "1.0.0"
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'demo' / 'office' / 'office.db'}")
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline and state != "online":
            with engine.connect() as conn:
                row = conn.execute(sa.text("SELECT state FROM telemetry_station WHERE station = 'demo-01'")).first()
            state = row[0] if row else None
            time.sleep(0.2)
        assert state == "online", "the office never saw the demo station online over MQTT"
        assert oct((tmp_path / "demo" / "office.toml").stat().st_mode & 0o777) == "0o600"
        _check_demo_json_and_dashboard(tmp_path / "demo", banner)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:]
    assert "demo stopped" in out


def _check_demo_json_and_dashboard(root: Path, banner: str) -> None:
    """demo.json (DESIGN §13) says how to reach everything, and the dashboard shows the simulated fleet."""
    import http.cookiejar
    import json
    import re
    import urllib.parse

    demo = json.loads((root / "demo.json").read_text())
    assert oct((root / "demo.json").stat().st_mode & 0o777) == "0o600"     # it holds the admin password
    for key in ("kiosk_url", "sim_url", "office_url", "dashboard_url", "mqtt", "operator", "office_admin",
                "sample_niks", "station_configs", "office_config"):
        assert key in demo, key
    assert demo["dashboard_url"] in banner and demo["office_admin"]["password"] in banner
    assert demo["operator"] == {"name": "demo", "pin": "123456"} and len(demo["sample_niks"]) == 3
    assert len(demo["station_configs"]) == 3 and all(Path(p).exists() for p in demo["station_configs"])
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(demo["dashboard_url"] + "login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode({"username": demo["office_admin"]["username"],
                                   "password": demo["office_admin"]["password"], "csrf_token": token}).encode()
    opener.open(demo["dashboard_url"] + "login", data=form, timeout=10).read()
    deadline = time.monotonic() + 30
    while True:
        data = json.loads(opener.open(demo["office_url"] + "/api/v1/dashboard/stations", timeout=10).read())
        states = {s["id"]: s["state"] for s in data["stations"]}
        if set(states.values()) == {"online"} and len(states) == 3:
            break
        assert time.monotonic() < deadline, f"demo stations not all online on the dashboard: {states}"
        time.sleep(0.5)
    assert all(s["simulated"] for s in data["stations"])
    assert any(s["session"] and s["session"]["desa_name"] == "Pala Pulau" for s in data["stations"])
