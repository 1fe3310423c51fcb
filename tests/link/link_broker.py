"""Broker and MQTT helpers for link tests and benches (a uniquely named module: ``import conftest`` is ambiguous
when several test folders put their own conftest.py on sys.path in one pytest run)."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from office.mosquitto import OFFICE_USER, TlsFiles, generate_config

MOSQUITTO = "/usr/sbin/mosquitto"
STATIONS = ("kph-01", "kph-02")
OBSERVERS = ("jemput-observer", "jemput-observer-2")
"""Office-side MQTT users for test listeners: with ``use_username_as_clientid`` each user is one client id, so a
listener must not share the ingest's user (it would take over the ingest's connection)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Any, timeout_s: float, interval_s: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy; fail the test with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class Broker:
    """A Mosquitto process we can kill and restart on the same port (retained messages persist in its dir)."""

    def __init__(self, workdir: Path, tls: TlsFiles | None = None, district: str | None = "6106") -> None:
        if not Path(MOSQUITTO).exists():
            pytest.fail(f"{MOSQUITTO} not found: install the Debian package 'mosquitto'")
        self.dir = workdir
        self.port = free_port()
        self.passwords = generate_config(workdir, port=self.port, users=STATIONS, tls=tls,
                                         run_as_user=getpass.getuser(), persistence=True, district=district,
                                         office_users=(OFFICE_USER, *OBSERVERS))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start listening within 10 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


class Listener:
    """A bare paho subscriber that records every message (the office's eye in tests)."""

    def __init__(self, port: int, user: str, password: str, topic: str = "jemput/v1/#") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{free_port()}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("listener could not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _r in self.messages if t == topic]

    def json_on(self, topic: str) -> list[dict]:
        return [json.loads(p) for p in self.on(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
