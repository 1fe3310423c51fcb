"""DeviceHub: the station's one owner of its devices, real or simulated.

The kiosk and telemetry never open a port themselves: they ask the hub for the camera, a fingerprint sensor
(``with hub.fingerprint() as sensor``), the signature pad or the battery, and read ``health()``. A background
monitor notices devices that vanish or come back, publishes ``device.<name>`` events when their health changes
and reconnects them in place, so a resident's loose USB cable costs a "plug it back in" message, not a restart.
``DeviceDisconnected`` from a driver becomes ``DeviceUnavailable`` (a ``JemputError`` with an Indonesian and an
English reason) at this boundary. With ``simulate=True`` the sensor and pad emulators run on pseudo-terminals and
the *real* drivers talk to them through pyserial; ``hub.simulator`` (``station.simulator``) drives them (place a
finger, sign, unplug).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from device_drivers.base import Health
from device_drivers.battery import BatteryDevice, LazyBattery, SimulatedBattery, open_battery
from device_drivers.errors import DeviceDisconnected, DeviceError
from device_drivers.signature_pad import FakeTopazPad, PenPoint, TopazPad
from station.config import Config
from station.errors import JemputError
from station.events import EventBus

if TYPE_CHECKING:
    from station.simulator import Simulator

log = logging.getLogger(__name__)

DEVICE_NAMES = ("camera", "fingerprint", "signature_pad", "battery")
CAMERA_PROBE_S = 10.0

REASONS: dict[tuple[str, Health], tuple[str, str]] = {
    ("camera", Health.ABSENT): ("Kamera tidak terhubung", "Camera is not connected"),
    ("camera", Health.FAULT): ("Kamera bermasalah", "Camera is not working properly"),
    ("fingerprint", Health.ABSENT): ("Sensor sidik jari tidak terhubung", "Fingerprint sensor is not connected"),
    ("fingerprint", Health.FAULT): ("Sensor sidik jari tidak menjawab dengan benar",
                                    "Fingerprint sensor is not answering properly"),
    ("signature_pad", Health.ABSENT): ("Papan tanda tangan tidak terhubung", "Signature pad is not connected"),
    ("signature_pad", Health.FAULT): ("Papan tanda tangan bermasalah", "Signature pad is not working properly"),
    ("battery", Health.ABSENT): ("Pemantau baterai tidak terhubung", "Battery monitor is not connected"),
    ("battery", Health.FAULT): ("Pembacaan baterai gagal", "Battery reading failed"),
    ("printer", Health.ABSENT): ("Printer tidak terhubung", "Printer is not connected"),
    ("printer", Health.FAULT): ("Printer belum siap (kertas atau penutup)", "Printer is not ready (paper or cover)"),
}


class DeviceUnavailable(JemputError):
    """A device the operator needs is unplugged or failing; the message says so in Indonesian and English."""

    def __init__(self, device: str, health: Health = Health.ABSENT, detail: str = "") -> None:
        self.device = device
        self.health = health
        self.reason_id, self.reason_en = REASONS.get((device, health), (f"{device} tidak tersedia",
                                                                        f"{device} is unavailable"))
        self.detail = detail
        super().__init__(f"{self.reason_id} / {self.reason_en}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class DeviceState:
    health: Health
    detail: str = ""

    def as_dict(self, name: str) -> dict[str, str]:
        if self.health is Health.OK:
            return {"health": "ok", "reason": "", "reason_id": "", "reason_en": "", "detail": self.detail}
        rid, ren = REASONS.get((name, self.health), ("", ""))
        return {"health": str(self.health), "reason": f"{rid} / {ren}", "reason_id": rid, "reason_en": ren,
                "detail": self.detail}


def _port_missing(port: str) -> bool:
    """A device path (udev name or pty link) that does not exist: the device is unplugged."""
    return "://" not in port and not os.path.exists(port)


class SignaturePadHandle:
    """A stable handle on the pad: survives unplug/replug (the hub swaps or reconnects the driver behind it)."""

    def __init__(self, hub: DeviceHub) -> None:
        self._hub = hub

    @property
    def driver(self) -> TopazPad | None:
        return self._hub._pad

    def read_points(self, timeout: float = 1.0) -> list[PenPoint]:
        """Points as they arrive (``[]`` after ``timeout``); ``DeviceUnavailable`` while the pad is away."""
        pad = self._hub._pad
        if pad is None:
            raise DeviceUnavailable("signature_pad", Health.ABSENT, self._hub._states["signature_pad"].detail)
        try:
            return pad.read_points(timeout=timeout)
        except DeviceDisconnected as exc:
            self._hub._set_state("signature_pad", DeviceState(Health.ABSENT, str(exc)))
            self._hub.poke()
            raise DeviceUnavailable("signature_pad", Health.ABSENT, str(exc)) from exc

    def collect(self, duration_s: float) -> list[PenPoint]:
        points: list[PenPoint] = []
        deadline = time.monotonic() + duration_s
        while (left := deadline - time.monotonic()) > 0:
            points += self.read_points(timeout=min(0.2, left))
        return points

    def status(self) -> dict[str, str]:
        return self._hub.health()["signature_pad"]


class DeviceHub:
    def __init__(self, config: Config, bus: EventBus, *, simulate: bool = False, monitor_interval_s: float = 2.0,
                 link_dir: str | None = None, pin_factory: Any = None, pace: bool = True) -> None:
        self.config = config
        self._pace = pace  # emulators pace their bytes at the line rate (False speeds tests up)
        self.bus = bus
        self.simulate = simulate
        self.monitor_interval_s = monitor_interval_s
        self._pin_factory = pin_factory
        self._link_dir = link_dir or (tempfile.mkdtemp(prefix="jemput-sim-") if simulate else None)
        self._states = {name: DeviceState(Health.ABSENT, "not checked yet") for name in DEVICE_NAMES}
        self._published: dict[str, dict[str, str]] = {}
        self._state_lock = threading.Lock()
        self._fp_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.camera: Any = None
        self.sensor: Any = None
        self._pad: TopazPad | None = None
        self.battery: LazyBattery | None = None
        self.simulator: Simulator | None = None
        self._fake_fp: Any = None
        self._fake_pad: FakeTopazPad | None = None
        self.printer: Any = None
        """``EscPosPrinter`` for the resident's slip, or None when none is configured."""
        self._fake_printer: Any = None
        self._camera_probed = float("-inf")
        self._fast_failed: tuple[str, int] | None = None
        self._own_link_dir = simulate and link_dir is None
        self.signature_pad = SignaturePadHandle(self)
        self._build()
        self.check_now()

    # building -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        devices = self.config.devices
        fp_port, pad_port = devices.fingerprint.port, devices.signature_pad.port
        if self.simulate:
            self._fake_pad = FakeTopazPad(link_dir=self._link_dir, pace=self._pace).start()
            pad_port = self._fake_pad.port
            self._fake_fp = self._start_fake_fingerprint()
            fp_port = self._fake_fp.port if self._fake_fp is not None else fp_port
        self._build_fingerprint(fp_port)
        self._open_pad(pad_port, devices.signature_pad.baudrate)
        self._build_camera()
        self._build_battery()
        self._build_printer()
        if self.simulate:
            from station.simulator import Simulator  # imported here: it imports DeviceUnavailable from us

            self.simulator = Simulator(self, fingerprint=self._fake_fp, pad=self._fake_pad, camera=self.camera,
                                       battery=self.battery.device if self.battery else None,
                                       printer=self._fake_printer)

    def _build_printer(self) -> None:
        """The slip printer: emulated under ``--simulate``; otherwise only when ``[devices.printer] port`` is set."""
        cfg = self.config.devices.printer
        port, baudrate = cfg.port, cfg.baudrate
        try:
            from device_drivers.printer import EscPosPrinter, FakeEscPosPrinter
        except ImportError as exc:
            log.warning("printer driver not installed: %s", exc)
            return
        if self.simulate:
            self._fake_printer = FakeEscPosPrinter(baudrate=baudrate, link_dir=self._link_dir,
                                                   pace=self._pace).start()
            port = self._fake_printer.port
        if port:
            self.printer = EscPosPrinter(port, baudrate)

    def _start_fake_fingerprint(self) -> Any:
        try:
            from device_drivers.fingerprint.emulator import FakeR30x
        except ImportError as exc:
            self._states["fingerprint"] = DeviceState(Health.ABSENT, f"fingerprint emulator not installed: {exc}")
            return None
        return FakeR30x("R307", link_dir=self._link_dir, pace=self._pace).start()

    def _build_fingerprint(self, port: str) -> None:
        cfg = self.config.devices.fingerprint
        try:
            from device_drivers.fingerprint import R30xSensor
        except ImportError as exc:
            self._states["fingerprint"] = DeviceState(Health.ABSENT, f"fingerprint driver not installed: {exc}")
            return
        baudrate = 57600 if self.simulate else cfg.baudrate
        model = "R307" if self.simulate else (cfg.model or None)
        self.sensor = R30xSensor(port, baudrate=baudrate, address=cfg.address, password=cfg.password, model=model)

    def _open_pad(self, port: str, baudrate: int) -> None:
        self._pad_port, self._pad_baudrate = port, baudrate
        try:
            self._pad = TopazPad(port, baudrate)
        except DeviceError as exc:
            self._states["signature_pad"] = DeviceState(Health.ABSENT, str(exc))

    def _build_camera(self) -> None:
        cfg = self.config.devices.camera
        try:
            from device_drivers.camera import SyntheticCamera, open_camera

            if self.simulate:
                self.camera = SyntheticCamera(cfg.width, cfg.height)
            else:
                self.camera = open_camera(cfg.backend, cfg.source, cfg.width, cfg.height)
        except (ImportError, DeviceError, ValueError, RuntimeError) as exc:
            self._states["camera"] = DeviceState(Health.ABSENT, f"camera unavailable: {exc}")

    def _build_battery(self) -> None:
        cfg = self.config.devices.battery
        if self.simulate:
            sim = SimulatedBattery(percent=80.0, on_mains=True)
            self.battery = LazyBattery(lambda: sim)
            self.battery.device = sim
            return
        if cfg.kind == "none":
            return
        address = cfg.address  # None: the chip's usual address

        def opener() -> BatteryDevice:
            device = open_battery(cfg.kind, bus=cfg.bus, address=address, power_loss_pin=cfg.power_loss_pin,
                                  pisugar_host=cfg.pisugar_host, pisugar_port=cfg.pisugar_port,
                                  pin_factory=self._pin_factory,
                                  power_loss_active_high=cfg.power_loss_active_high)
            assert device is not None
            return device

        self.battery = LazyBattery(opener)

    # access ---------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def fingerprint(self, timeout_s: float = 15.0) -> Iterator[Any]:
        """The sensor, for one capture; one user at a time. Raises ``DeviceUnavailable`` when it is gone.

        Only ``DeviceDisconnected`` inside the block is translated: "no finger", "image too messy" and timeouts
        are the sensor's answers, not outages, so they reach the caller unchanged.
        """
        sensor = self.sensor
        if sensor is None:
            raise DeviceUnavailable("fingerprint", Health.ABSENT, self._states["fingerprint"].detail)
        if not self._fp_lock.acquire(timeout=timeout_s):
            raise DeviceUnavailable("fingerprint", Health.FAULT, "sensor busy")
        try:
            if _port_missing(sensor.port):
                self._set_state("fingerprint", DeviceState(Health.ABSENT, f"{sensor.port} is missing"))
                raise DeviceUnavailable("fingerprint", Health.ABSENT, f"{sensor.port} is missing")
            try:
                yield sensor
            except DeviceDisconnected as exc:
                self._set_state("fingerprint", DeviceState(Health.ABSENT, str(exc)))
                self.poke()
                raise DeviceUnavailable("fingerprint", Health.ABSENT, str(exc)) from exc
        finally:
            self._fp_lock.release()

    def read_frame(self) -> Any:
        """One camera frame, or ``DeviceUnavailable``."""
        if self.camera is None:
            raise DeviceUnavailable("camera", Health.ABSENT, self._states["camera"].detail)
        try:
            return self.camera.read()
        except DeviceError as exc:
            self._set_state("camera", DeviceState(Health.ABSENT, str(exc)))
            raise DeviceUnavailable("camera", Health.ABSENT, str(exc)) from exc

    def health(self) -> dict[str, dict[str, str]]:
        """``{"camera": {"health": "ok", "reason": ""}, ...}``; reasons are "Indonesian / English"."""
        with self._state_lock:
            return {name: state.as_dict(name) for name, state in self._states.items()}

    # monitoring -----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="device-monitor")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(10.0)
        for device in (self.sensor, self._pad, self.camera, self.battery, self.printer):
            if device is not None:
                with contextlib.suppress(Exception):
                    device.close()
        for emulator in (self._fake_fp, self._fake_pad, self._fake_printer):
            if emulator is not None:
                emulator.close()
        if self._own_link_dir and self._link_dir:
            with contextlib.suppress(OSError):
                os.rmdir(self._link_dir)

    def poke(self) -> None:
        """Ask the monitor to check everything now (after an unplug was seen, or a simulator action)."""
        self._camera_probed = float("-inf")
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_now()
            except Exception:  # noqa: BLE001 - the monitor must outlive any driver bug
                log.exception("device check failed")
            self._wake.wait(self.monitor_interval_s)
            self._wake.clear()

    def check_now(self) -> dict[str, dict[str, str]]:
        """Check every device once (reconnecting what came back) and publish changes."""
        for name, check in (("camera", self._check_camera), ("fingerprint", self._check_fingerprint),
                            ("signature_pad", self._check_pad), ("battery", self._check_battery)):
            state = check()
            if state is not None:
                self._set_state(name, state)
        return self.health()

    def _check_camera(self) -> DeviceState | None:
        if self.camera is None:
            return None
        now = time.monotonic()
        if self.camera.status().health is Health.OK and now - self._camera_probed < CAMERA_PROBE_S:
            return None  # healthy and recently seen: don't steal frames from the live preview
        self._camera_probed = now
        try:
            self.camera.read()  # backends reopen on read, so this is also the reconnect
        except DeviceError as exc:
            return DeviceState(Health.ABSENT, str(exc))
        status = self.camera.status()
        return DeviceState(status.health, status.reason)

    def _check_fingerprint(self) -> DeviceState | None:
        sensor = self.sensor
        if sensor is None:
            return None
        if _port_missing(sensor.port):
            return DeviceState(Health.ABSENT, f"{sensor.port} is missing")
        if not self._fp_lock.acquire(blocking=False):
            return None  # in use by a capture: its own errors will tell
        try:
            status = sensor.status()  # a VfyPwd round trip; the driver reopens the port if it came back
            if status.health is Health.OK:
                self._speed_up(sensor)
        finally:
            self._fp_lock.release()
        return DeviceState(status.health, status.reason)

    def _speed_up(self, sensor: Any) -> None:
        """Switch the sensor to ``fast_baudrate`` (called with the sensor lock held, between captures)."""
        fast = self.config.devices.fingerprint.fast_baudrate
        if not fast or sensor.baudrate == fast or self._fast_failed == (sensor.port, fast):
            return
        try:
            sensor.set_baudrate(fast)
        except (DeviceError, ValueError) as exc:  # stays usable at the old rate; not retried for this port
            self._fast_failed = (sensor.port, fast)
            log.warning("fingerprint sensor stays at %d baud: %s", sensor.baudrate, exc)
        else:
            log.info("fingerprint sensor switched to %d baud", fast)

    def _check_pad(self) -> DeviceState | None:
        pad = self._pad
        if pad is None:
            if _port_missing(self._pad_port):
                return DeviceState(Health.ABSENT, f"{self._pad_port} is missing")
            try:
                self._pad = TopazPad(self._pad_port, self._pad_baudrate)
            except DeviceError as exc:
                return DeviceState(Health.ABSENT, str(exc))
            return DeviceState(Health.OK, self._pad_port)
        status = pad.probe()
        if status.health is Health.OK:
            return DeviceState(Health.OK, pad.port)
        if _port_missing(pad.port):
            return DeviceState(status.health, status.reason)
        try:
            pad.reconnect()
        except DeviceError as exc:
            return DeviceState(Health.ABSENT, str(exc))
        return DeviceState(Health.OK, pad.port)

    def _check_battery(self) -> DeviceState | None:
        handle = self.battery
        if handle is None:
            return DeviceState(Health.ABSENT, "no battery monitor configured ([devices.battery] kind = none)")
        try:
            reading = handle.read()
        except DeviceDisconnected as exc:
            return DeviceState(Health.ABSENT, str(exc))
        except DeviceError as exc:
            return DeviceState(Health.FAULT, str(exc))
        return DeviceState(Health.OK, f"{reading.percent:.0f}%")

    def _set_state(self, name: str, state: DeviceState) -> None:
        with self._state_lock:
            self._states[name] = state
            public = state.as_dict(name)
            changed = self._published.get(name, {}).get("health") != public["health"]
            if changed:
                self._published[name] = public
        if changed:
            log.info("device %s: %s %s", name, public["health"], state.detail)
            self.bus.publish(f"device.{name}", device=name, **public)
