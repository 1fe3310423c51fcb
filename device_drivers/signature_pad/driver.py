"""TopazPad: reads a Topaz serial signature pad through pyserial.

The pad only talks while a pen is near it, so silence is normal; an unplugged pad shows up as a failing read
(EIO on the tty) or a vanished udev name, and both become ``DeviceDisconnected``. ``reconnect()`` reopens the
same port name, so the station can keep one ``TopazPad`` object across unplug/replug.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import serial

from device_drivers.base import Device, DeviceStatus, Health
from device_drivers.errors import DeviceDisconnected
from device_drivers.signature_pad.protocol import PACKET_BYTES, PenPoint, TopazDecoder

BITS_PER_BYTE_8O1 = 11  # start + 8 data + parity + stop


class TopazPad(Device):
    """A Topaz serial pad on ``port`` (a device path or any pyserial URL), 19200 baud 8O1."""

    def __init__(self, port: str, baudrate: int = 19200, *, poll_s: float = 0.02) -> None:
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self._poll_s = poll_s
        self._decoder = TopazDecoder()
        self._serial: serial.SerialBase | None = None
        self._lock = threading.RLock()
        self._status = DeviceStatus.ok()
        self._packet_s = PACKET_BYTES * BITS_PER_BYTE_8O1 / baudrate
        self._last_t = 0.0
        self._opened_rdev: int | None = None
        self._open()

    # lifecycle ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self._serial = serial.serial_for_url(
                self.port, baudrate=self.baudrate, bytesize=serial.EIGHTBITS, parity=serial.PARITY_ODD,
                stopbits=serial.STOPBITS_ONE, timeout=self._poll_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._serial = None
            self._status = DeviceStatus(Health.ABSENT, f"cannot open signature pad: {exc}")
            raise DeviceDisconnected("cannot open signature pad", port=self.port) from exc
        self._decoder.reset()
        self._opened_rdev = _rdev(self.port)
        self._status = DeviceStatus.ok()

    def reconnect(self) -> None:
        """Close and reopen the same port (after the pad was unplugged and came back)."""
        if self.closed:
            raise DeviceDisconnected("signature pad is closed", port=self.port)
        with self._lock:
            self._drop_serial()
            self._open()

    def _drop_serial(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _close(self) -> None:
        with self._lock:
            self._drop_serial()

    def status(self) -> DeviceStatus:
        if self.closed:
            return DeviceStatus(Health.ABSENT, "closed")
        return self._status

    @property
    def decoder(self) -> TopazDecoder:
        """The decoder, for its counters (skipped bytes, dropped packets)."""
        return self._decoder

    def probe(self) -> DeviceStatus:
        """Cheap presence check for a health monitor: does the port still exist and answer an ioctl?"""
        if self.closed:
            return self.status()
        with self._lock:
            if self._serial is None:
                return self._status
            if self.port.startswith("/"):
                rdev = _rdev(self.port)
                if rdev is None:
                    self._fail("signature pad unplugged (port vanished)")
                    return self._status
                if rdev != self._opened_rdev:  # unplugged and back as a new tty behind the same name
                    self._fail("signature pad re-enumerated; reconnect needed")
                    return self._status
            try:
                self._serial.in_waiting  # noqa: B018 - the ioctl is the probe
            except (serial.SerialException, OSError) as exc:
                self._fail(f"signature pad unplugged ({exc})")
        return self._status

    def _fail(self, reason: str) -> None:
        self._status = DeviceStatus(Health.ABSENT, reason)
        self._drop_serial()

    # reading --------------------------------------------------------------------------------------------
    def _read_chunk(self) -> list[PenPoint]:
        """One read of what the port has (waits at most ``poll_s``) -> decoded points, stamped at arrival."""
        with self._lock:
            ser = self._serial
            if ser is None:
                raise DeviceDisconnected("signature pad is not connected", port=self.port)
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self._fail(f"signature pad unplugged ({exc})")
                raise DeviceDisconnected("signature pad unplugged", port=self.port) from exc
        if not data:
            return []
        now = time.monotonic()
        points = self._decoder.feed(data, now)
        n = len(points)
        if not n:
            return []
        # Packets that completed in one read arrived one line-time apart; spread their stamps accordingly, but
        # never before the previous read's last point (stamps stay strictly increasing).
        first = max(now - (n - 1) * self._packet_s, self._last_t + 1e-6)
        step = max((now - first) / (n - 1), 1e-6) if n > 1 else 0.0
        stamped = [PenPoint(p.x, p.y, p.pressure, p.pen_down, first + i * step) for i, p in enumerate(points)]
        self._last_t = stamped[-1].t
        return stamped

    def read_points(self, timeout: float = 1.0) -> list[PenPoint]:
        """Points as soon as some arrive (plus whatever is already buffered); ``[]`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            points = self._read_chunk()
            if points:
                while True:
                    more = self._read_chunk() if self._pending() else []
                    if not more:
                        return points
                    points.extend(more)
            if time.monotonic() >= deadline:
                return []

    def _pending(self) -> bool:
        with self._lock:
            try:
                return bool(self._serial and self._serial.in_waiting)
            except (serial.SerialException, OSError):
                return False

    def points(self, timeout: float | None = None, *, idle_timeout: float | None = None) -> Iterator[PenPoint]:
        """Yield points until ``timeout`` s have passed or nothing came for ``idle_timeout`` s (None = forever)."""
        start = last = time.monotonic()
        while True:
            now = time.monotonic()
            if timeout is not None and now - start >= timeout:
                return
            if idle_timeout is not None and now - last >= idle_timeout:
                return
            chunk = self._read_chunk()
            if chunk:
                last = time.monotonic()
                yield from chunk

    def collect(self, duration_s: float) -> list[PenPoint]:
        """Every point that arrives in the next ``duration_s`` seconds."""
        return list(self.points(timeout=duration_s))



def _rdev(port: str) -> int | None:
    """The device number a port path leads to (None if it is gone or not a path)."""
    if not port.startswith("/"):
        return None
    try:
        return os.stat(port).st_rdev
    except OSError:
        return None
