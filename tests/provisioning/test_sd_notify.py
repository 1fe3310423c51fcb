"""sd_notify by hand, over real unix datagram sockets the test binds (as systemd does): READY=1 once the kiosk
answers, WATCHDOG=1 at half of WATCHDOG_USEC from the main loop, and silence when the main loop hangs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from prov_helpers import free_port

from station.config import config_from_dict
from station.runtime import build_station, init_station
from station.sd_notify import SystemdNotifier
from station.service import serve

pytestmark = pytest.mark.timeout(120)


class NotifySocket:
    """What systemd listens on: a datagram socket, at a path or in the abstract namespace."""

    def __init__(self, tmp_path: Path, abstract: bool) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"jemput-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = tmp_path / "notify.sock"
            self.sock.bind(str(path))
            self.env = str(path)
        self.sock.settimeout(0.2)

    def messages(self, seconds: float) -> list[tuple[float, str]]:
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                out.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue
        return out

    def wait_for(self, text: str, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if text in self.sock.recv(4096).decode().splitlines():
                    return time.monotonic()
            except TimeoutError:
                continue
        pytest.fail(f"no {text} within {seconds} s")

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notifier_sends_datagrams(tmp_path: Path, abstract: bool) -> None:
    listener = NotifySocket(tmp_path, abstract)
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": listener.env, "WATCHDOG_USEC": "3000000"})
        assert notifier.enabled and notifier.watchdog_interval_s == 1.5
        assert notifier.ready("station kph-01 running") and notifier.watchdog()
        got = [m for _, m in listener.messages(0.5)]
        assert got == ["READY=1\nSTATUS=station kph-01 running", "WATCHDOG=1"]
    finally:
        listener.close()


def test_notifier_without_systemd_and_foreign_watchdog_pid() -> None:
    assert not SystemdNotifier({}).enabled and SystemdNotifier({}).ready() is False
    other = SystemdNotifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval_s is None
    mine = SystemdNotifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval_s == 0.5


def station_config(tmp_path: Path, ui_port: int = 8080) -> dict:
    return {"station": {"id": "kph-09", "district": "6106", "data_dir": str(tmp_path / "data")},
            "ui": {"port": ui_port}, "devices": {"camera": {"backend": "synthetic"}}}


def test_station_run_is_ready_after_the_kiosk_answers_then_pings(tmp_path: Path) -> None:
    port = free_port()
    config_file = tmp_path / "station.toml"
    config_file.write_text(f'[station]\nid = "kph-09"\ndistrict = "6106"\ndata_dir = "{tmp_path / "data"}"\n'
                           f'[ui]\nport = {port}\n[devices.camera]\nbackend = "synthetic"\n')
    assert subprocess.run([sys.executable, "-m", "station.cli", "station", "init", "--config", str(config_file)],
                          capture_output=True, timeout=60).returncode == 0
    listener = NotifySocket(tmp_path, abstract=True)
    env = {**os.environ, "NOTIFY_SOCKET": listener.env, "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen([sys.executable, "-m", "station.cli", "station", "run", "--config", str(config_file),
                             "--simulate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        listener.wait_for("READY=1", 60)
        # READY came only once the kiosk answers: it answers now
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        pings = [t for t, m in listener.messages(4.0) if m == "WATCHDOG=1"]
        assert len(pings) >= 3                                   # every 1 s: half of WATCHDOG_USEC
        assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 2.0   # never as late as systemd's limit
        proc.send_signal(signal.SIGTERM)
        listener.wait_for("STOPPING=1", 30)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=10)[0]
        listener.close()
    assert "stopped cleanly" in output


def test_a_hung_main_loop_stops_the_pings(tmp_path: Path) -> None:
    config = config_from_dict(station_config(tmp_path))
    init_station(config)
    station = build_station(config, simulate=True, builders={})
    listener = NotifySocket(tmp_path, abstract=False)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": listener.env, "WATCHDOG_USEC": "400000"})
    stop = threading.Event()
    loop = threading.Thread(target=serve, args=(station, stop),
                            kwargs={"start_frontends": None, "notifier": notifier}, daemon=True)
    loop.start()
    try:
        listener.wait_for("READY=1", 20)
        assert sum(m == "WATCHDOG=1" for _, m in listener.messages(1.0)) >= 3
        with station.db_lock:                                   # the station hangs holding its store
            hung = [m for _, m in listener.messages(1.6)]
        assert "WATCHDOG=1" not in hung[1:]                     # at most one ping already in flight
        assert sum(m == "WATCHDOG=1" for _, m in listener.messages(1.0)) >= 2   # and it comes back
    finally:
        stop.set()
        loop.join(20)
        listener.close()
    assert not loop.is_alive()
