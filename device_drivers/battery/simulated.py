"""SimulatedBattery: a drain/charge model for --simulate and for power-policy tests.

Time comes from an injectable ``clock`` (seconds), so a test can move an hour forward without sleeping. The
percentage falls linearly on battery and rises on mains; voltage follows it like a 2-cell Li-ion pack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from device_drivers.battery.common import BatteryDevice, BatteryReading, clamp_percent
from device_drivers.errors import DeviceDisconnected, DeviceError


class SimulatedBattery(BatteryDevice):
    name = "simulated battery"

    def __init__(self, *, percent: float = 80.0, on_mains: bool = True, drain_percent_per_min: float = 0.25,
                 charge_percent_per_min: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 cells: int = 2) -> None:
        super().__init__()
        self._percent = float(percent)
        self._on_mains = on_mains
        self.drain_percent_per_min = drain_percent_per_min
        self.charge_percent_per_min = charge_percent_per_min
        self._clock = clock
        self._last = clock()
        self._cells = cells
        self._lock = threading.Lock()
        self._plugged = True
        self._failures_left = 0
        self._mains_callback: Callable[[bool], None] | None = None

    def on_mains_change(self, callback: Callable[[bool], None]) -> bool:
        """Like a power-loss pin: ``cut_mains`` / ``restore_mains`` call back at once."""
        self._mains_callback = callback
        return True

    def _edge(self, present: bool) -> None:
        if self._mains_callback is not None:
            self._mains_callback(present)

    def _advance(self) -> None:
        now = self._clock()
        minutes = max(0.0, now - self._last) / 60.0
        self._last = now
        rate = self.charge_percent_per_min if self._on_mains else -self.drain_percent_per_min
        self._percent = clamp_percent(self._percent + rate * minutes)

    def _read(self) -> BatteryReading:
        with self._lock:
            self._advance()
            if not self._plugged:
                raise DeviceDisconnected("simulated battery board unplugged", port="i2c 0x42")
            if self._failures_left:
                self._failures_left -= 1
                raise DeviceError("simulated I2C read error", port="i2c 0x42")
            charging = self._on_mains and self._percent < 100.0
            current_a = (0.8 if charging else 0.0) if self._on_mains else -1.2
            voltage_v = self._cells * (3.0 + 1.2 * self._percent / 100.0)
            return BatteryReading(round(self._percent, 2), round(voltage_v, 3), current_a, charging, self._on_mains)

    # simulator controls ---------------------------------------------------------------------------------
    def cut_mains(self) -> None:
        with self._lock:
            self._advance()
            self._on_mains = False
        self._edge(False)

    def restore_mains(self) -> None:
        with self._lock:
            self._advance()
            self._on_mains = True
        self._edge(True)

    def set_percent(self, percent: float) -> None:
        with self._lock:
            self._advance()
            self._percent = clamp_percent(percent)

    def fail_reads(self, count: int = 1) -> None:
        """The next ``count`` reads raise a ``DeviceError`` (a glitch on the bus)."""
        self._failures_left = count

    def unplug(self) -> None:
        self._plugged = False

    def replug(self) -> None:
        self._plugged = True

    @property
    def on_mains(self) -> bool:
        return self._on_mains
