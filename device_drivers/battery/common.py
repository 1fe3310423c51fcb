"""What every battery source returns, and the small helpers the I2C drivers share.

SMBus "words" are sent low byte first, but the INA219 and MAX1704x put the most significant byte of a register
on the wire first; ``read_word_data`` therefore hands back a byte-swapped value and every register access here
goes through ``swap16``. Getting this wrong reads 7.8 V as 0xF23C * 4 mV, so the fakes model it too.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

from device_drivers.base import Device, DeviceStatus, Health
from device_drivers.errors import DeviceDisconnected, DeviceError


@dataclass(frozen=True)
class BatteryReading:
    percent: float
    """State of charge 0..100."""
    voltage_v: float
    current_a: float | None = None
    """Positive while charging, negative while the battery feeds the Pi; None if the part cannot tell."""
    charging: bool | None = None
    on_mains: bool | None = None
    """True when external power is present; None if unknown (no power-loss pin and no current sense)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SMBusLike(Protocol):
    """The part of ``smbus2.SMBus`` the drivers use (so a fake bus can stand in)."""

    def read_word_data(self, i2c_addr: int, register: int) -> int: ...
    def write_word_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None: ...


def swap16(word: int) -> int:
    """Swap the two bytes of a 16-bit SMBus word (chip registers are big-endian, SMBus words little-endian)."""
    return ((word & 0xFF) << 8) | ((word >> 8) & 0xFF)


def to_signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def clamp_percent(value: float) -> float:
    return min(100.0, max(0.0, value))


T = TypeVar("T")


class BatteryDevice(Device):
    """Base for battery sources: ``read()`` maps low-level failures to typed errors and tracks health."""

    name = "battery"

    def __init__(self) -> None:
        super().__init__()
        self._status = DeviceStatus.ok("not read yet")
        self.last_reading: BatteryReading | None = None

    def read(self) -> BatteryReading:
        if self.closed:
            raise DeviceDisconnected(f"{self.name} is closed")
        try:
            reading = self._read()
        except DeviceError as exc:
            self._status = DeviceStatus(Health.ABSENT if isinstance(exc, DeviceDisconnected) else Health.FAULT,
                                        str(exc))
            raise
        self._status = DeviceStatus.ok()
        self.last_reading = reading
        return reading

    def _read(self) -> BatteryReading:
        raise NotImplementedError

    def on_mains_change(self, callback: Callable[[bool], None]) -> bool:
        """Call ``callback(present)`` on every edge of the power-loss pin; False when this board has no pin (then
        mains presence is only known from polled reads)."""
        mains = getattr(self, "mains", None)
        if mains is None:
            return False
        mains.when_changed(callback)
        return True

    def status(self) -> DeviceStatus:
        return DeviceStatus(Health.ABSENT, "closed") if self.closed else self._status


def i2c_call(fn: Callable[[], T], *, what: str, bus_name: str) -> T:
    """Run one bus transfer; an ``OSError`` (NACK, bus gone) becomes ``DeviceDisconnected``."""
    try:
        return fn()
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        raise DeviceDisconnected(f"I2C transfer failed: {what} ({code})", port=bus_name) from exc


def open_i2c_bus(bus_number: int) -> SMBusLike:
    """Open ``/dev/i2c-<n>`` with smbus2 (imported here so nothing else needs it)."""
    try:
        from smbus2 import SMBus
    except ImportError as exc:  # pragma: no cover - smbus2 is a hard dependency
        raise DeviceError("smbus2 is not installed; `pip install smbus2`") from exc
    try:
        return SMBus(bus_number)
    except OSError as exc:
        raise DeviceDisconnected(f"cannot open I2C bus {bus_number}: {exc.strerror} "
                                 "(enable I2C with raspi-config)", port=f"/dev/i2c-{bus_number}") from exc


class LazyBattery:
    """Opens its battery driver on the first read (and after a failed open), so a HAT missing at start is a
    failing read the power policy reports, not a crash while the station is being built."""

    def __init__(self, opener: Callable[[], BatteryDevice]) -> None:
        self._opener = opener
        self._lock = threading.Lock()
        self.device: BatteryDevice | None = None
        self.last_error = ""
        self._mains_callback: Callable[[bool], None] | None = None

    def on_mains_change(self, callback: Callable[[bool], None]) -> bool:
        """Edges of the power-loss pin (registered on the driver now, or once it opens)."""
        with self._lock:
            self._mains_callback = callback
            if self.device is None:
                try:
                    self.device = self._opener()
                except DeviceError as exc:
                    self.last_error = str(exc)
                    return False
            return self.device.on_mains_change(callback)

    def read(self) -> BatteryReading:
        with self._lock:
            try:
                if self.device is None:
                    self.device = self._opener()
                    if self._mains_callback is not None:
                        self.device.on_mains_change(self._mains_callback)
                reading = self.device.read()
            except DeviceError as exc:
                self.last_error = str(exc)
                raise
            self.last_error = ""
            return reading

    def status(self) -> DeviceStatus:
        if self.device is None:
            return DeviceStatus(Health.ABSENT, self.last_error or "not opened yet")
        return self.device.status()

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
