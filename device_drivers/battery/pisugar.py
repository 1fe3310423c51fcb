"""PiSugar UPS boards through pisugar-server's text protocol on TCP 8423.

Each request is one line (``get battery``) and each answer one line (``battery: 63.1``). The connection is kept
open and re-made after any failure, so a restarted pisugar-server costs one failed read, not a station restart.
"""

from __future__ import annotations

import socket

from device_drivers.battery.common import BatteryDevice, BatteryReading, clamp_percent
from device_drivers.errors import DeviceDisconnected, DeviceTimeout, ProtocolError


class PiSugarBattery(BatteryDevice):
    name = "PiSugar"

    def __init__(self, host: str = "127.0.0.1", port: int = 8423, *, timeout_s: float = 2.0) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._rfile = None
        self._where = f"{host}:{port}"

    def _connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except TimeoutError as exc:
            raise DeviceTimeout("pisugar-server did not accept the connection", port=self._where) from exc
        except OSError as exc:
            raise DeviceDisconnected(f"pisugar-server not reachable ({exc.strerror or exc})",
                                     port=self._where) from exc
        sock.settimeout(self.timeout_s)
        self._sock, self._rfile = sock, sock.makefile("rb")

    def _disconnect(self) -> None:
        sock, rfile = self._sock, self._rfile
        self._sock = self._rfile = None
        for f in (rfile, sock):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass

    def query(self, key: str) -> str:
        """``get <key>`` -> the value text; reconnects once per call if needed."""
        if self._sock is None:
            self._connect()
        try:
            self._sock.sendall(f"get {key}\n".encode("ascii"))
            line = self._rfile.readline(256)
        except TimeoutError as exc:
            self._disconnect()
            raise DeviceTimeout(f"pisugar-server did not answer 'get {key}'", port=self._where) from exc
        except OSError as exc:
            self._disconnect()
            raise DeviceDisconnected("pisugar-server connection lost", port=self._where) from exc
        if not line:
            self._disconnect()
            raise DeviceDisconnected("pisugar-server closed the connection", port=self._where)
        text = line.decode("utf-8", "replace").strip()
        name, sep, value = text.partition(":")
        if not sep or name.strip() != key:
            raise ProtocolError(f"unexpected pisugar answer {text!r}", port=self._where, expected=f"'{key}: ...'")
        return value.strip()

    def _float(self, key: str) -> float:
        value = self.query(key)
        try:
            return float(value)
        except ValueError as exc:
            raise ProtocolError(f"pisugar '{key}' is not a number: {value!r}", port=self._where) from exc

    def _bool(self, key: str) -> bool:
        value = self.query(key).lower()
        if value not in ("true", "false"):
            raise ProtocolError(f"pisugar '{key}' is not true/false: {value!r}", port=self._where)
        return value == "true"

    def _read(self) -> BatteryReading:
        percent = clamp_percent(self._float("battery"))
        voltage_v = self._float("battery_v")
        plugged = self._bool("battery_power_plugged")
        charging = self._bool("battery_charging")
        return BatteryReading(round(percent, 1), voltage_v, None, charging, plugged)

    def _close(self) -> None:
        self._disconnect()
