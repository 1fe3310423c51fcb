"""The --simulate control panel's back end, split from ``station.devices`` (which builds it in simulate mode).

It acts on the emulators, never on the drivers, so what the kiosk sees is the real driver reacting to real bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from device_drivers.base import Health
from device_drivers.battery import SimulatedBattery
from device_drivers.signature_pad import FakeTopazPad
from station.devices import DeviceUnavailable

if TYPE_CHECKING:
    from station.devices import DeviceHub


class Simulator:
    """The --simulate control panel's back end: acts on the emulators, so the real drivers see the effect."""

    def __init__(self, hub: DeviceHub, *, fingerprint: Any, pad: FakeTopazPad | None, camera: Any,
                 battery: SimulatedBattery | None) -> None:
        self.hub = hub
        self.fingerprint = fingerprint
        self.pad = pad
        self.camera = camera
        self.battery = battery
        self._signatures = 0

    def _need(self, device: Any, name: str) -> Any:
        if device is None:
            raise DeviceUnavailable(name, Health.ABSENT, "no emulator for this device")
        return device

    def place_finger(self, quality: str = "good", seed: int | None = None) -> None:
        self._need(self.fingerprint, "fingerprint").place_finger(quality, seed)

    def lift_finger(self) -> None:
        self._need(self.fingerprint, "fingerprint").lift_finger()

    def sign(self, name: str = "Siti Aminah", seed: int | None = None, *, block: bool = False) -> None:
        """Replay a signature on the pad (in the background unless ``block``); each call signs differently."""
        self._signatures += 1
        self._need(self.pad, "signature_pad").sign(name, self._signatures if seed is None else seed, block=block)

    def set_scene(self, scene: str) -> None:
        self._need(self.camera, "camera").set_scene(scene)

    def _target(self, device: str) -> Any:
        targets = {"fingerprint": self.fingerprint, "signature_pad": self.pad, "camera": self.camera,
                   "battery": self.battery}
        if device not in targets:
            raise ValueError(f"unknown device {device!r}; expected one of {', '.join(targets)}")
        return self._need(targets[device], device)

    def unplug(self, device: str) -> None:
        self._target(device).unplug()
        self.hub.poke()

    def replug(self, device: str) -> None:
        self._target(device).replug()
        self.hub.poke()

    def cut_mains(self) -> None:
        self._need(self.battery, "battery").cut_mains()

    def restore_mains(self) -> None:
        self._need(self.battery, "battery").restore_mains()

    def set_battery_percent(self, percent: float) -> None:
        """Jump the simulated charge (a drain that would take hours, for demos and office alert tests)."""
        self._need(self.battery, "battery").set_percent(percent)
