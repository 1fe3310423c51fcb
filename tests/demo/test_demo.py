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
        banner = read_until(proc, "Try NIK", 60)
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
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:]
    assert "demo stopped" in out
