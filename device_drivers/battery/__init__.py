"""Battery and mains sensing: INA219 (Waveshare UPS HAT), MAX17040/48 (X728), PiSugar server, power-loss GPIO.

Every source is a ``BatteryDevice`` with ``read() -> BatteryReading``. ``open_battery`` builds one from the
station's ``[devices.battery]`` values, so the station never imports smbus2 or gpiozero itself.
"""

from __future__ import annotations

from typing import Any

from device_drivers.battery.common import BatteryDevice, BatteryReading, LazyBattery, open_i2c_bus, swap16
from device_drivers.battery.fakes import FakeINA219Bus, FakeMAX1704xBus, FakePiSugarServer
from device_drivers.battery.ina219 import WAVESHARE_16V_5A, WAVESHARE_32V_2A, Calibration, INA219Battery
from device_drivers.battery.mains import MainsSensor
from device_drivers.battery.max1704x import MAX1704xBattery
from device_drivers.battery.pisugar import PiSugarBattery
from device_drivers.battery.simulated import SimulatedBattery

KINDS = ("ina219", "max1704x", "pisugar", "none")


def open_battery(kind: str, *, bus: int = 1, address: int | None = None, power_loss_pin: int | None = None,
                 pisugar_host: str = "127.0.0.1", pisugar_port: int = 8423, pin_factory: Any = None,
                 i2c_bus: Any = None, power_loss_active_high: bool = True) -> BatteryDevice | None:
    """The battery source for ``kind`` (None for ``none``); ``i2c_bus`` overrides opening ``/dev/i2c-<bus>``.

    ``power_loss_active_high``: True if the pin reads high while mains is present (False for boards whose pin
    goes high on power *loss*).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown battery kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "none":
        return None
    mains = (MainsSensor(power_loss_pin, pin_factory, active_high=power_loss_active_high)
             if power_loss_pin is not None else None)
    if kind == "pisugar":
        return PiSugarBattery(pisugar_host, pisugar_port)
    smbus = i2c_bus if i2c_bus is not None else open_i2c_bus(bus)
    if kind == "ina219":
        return INA219Battery(smbus, address if address is not None else 0x42, mains=mains)
    return MAX1704xBattery(smbus, address if address is not None else 0x36, mains=mains)


__all__ = [
    "KINDS", "WAVESHARE_16V_5A", "WAVESHARE_32V_2A", "BatteryDevice", "BatteryReading", "Calibration",
    "FakeINA219Bus", "FakeMAX1704xBus", "FakePiSugarServer", "INA219Battery", "LazyBattery", "MAX1704xBattery",
    "MainsSensor", "PiSugarBattery", "SimulatedBattery", "open_battery", "open_i2c_bus", "swap16",
]
