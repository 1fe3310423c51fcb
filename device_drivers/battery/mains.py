"""Mains presence from a power-loss GPIO (gpiozero), e.g. the X728's or a divider on the 5 V input.

``active_high`` says which level means "mains present"; the pin has no internal pull because the board drives it.
Tests pass gpiozero's ``MockFactory`` as ``pin_factory`` and drive the pin high and low.
"""

from __future__ import annotations

from typing import Any

from device_drivers.base import Device, DeviceStatus, Health
from device_drivers.errors import DeviceDisconnected


class MainsSensor(Device):
    def __init__(self, pin: int | str, pin_factory: Any = None, *, active_high: bool = True) -> None:
        super().__init__()
        from gpiozero import DigitalInputDevice, GPIOZeroError

        self.pin = pin
        try:
            self._input = DigitalInputDevice(pin, pull_up=None, active_state=active_high, pin_factory=pin_factory)
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            raise DeviceDisconnected(f"cannot use GPIO {pin} for mains detection: {exc}",
                                     port=f"GPIO{pin}") from exc

    def is_present(self) -> bool:
        """True while mains power is present."""
        if self.closed:
            raise DeviceDisconnected("mains sensor is closed", port=f"GPIO{self.pin}")
        return bool(self._input.is_active)

    def when_changed(self, callback: Any) -> None:
        """Call ``callback(present: bool)`` on every edge (from gpiozero's thread)."""
        self._input.when_activated = lambda: callback(True)
        self._input.when_deactivated = lambda: callback(False)

    def status(self) -> DeviceStatus:
        return DeviceStatus(Health.ABSENT, "closed") if self.closed else DeviceStatus.ok()

    def _close(self) -> None:
        self._input.close()
