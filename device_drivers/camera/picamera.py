"""The Raspberry Pi CSI camera module through picamera2 (libcamera).

picamera2 only exists on Raspberry Pi OS, so it is imported when this backend is used, never at module import;
without it the camera is *absent* with the reason "picamera2 not installed". libcamera's ``RGB888`` format is BGR
byte order, which is what OpenCV (and the rest of the station) expects, so frames need no conversion.
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any

import numpy as np

from device_drivers.base import Health
from device_drivers.camera.base import Camera
from device_drivers.errors import DeviceDisconnected


class Picamera2Camera(Camera):
    """A CSI camera; restarts itself on a later ``read()`` after a failure (ribbon reseated, driver reset)."""

    source_name = "picamera2"

    def __init__(self, width: int = 640, height: int = 480, *, camera_num: int = 0,
                 reopen_interval_s: float = 1.0) -> None:
        super().__init__(width, height)
        self.camera_num = camera_num
        self.reopen_interval_s = reopen_interval_s
        self._module: ModuleType | None = None
        self._picam: Any = None
        self._last_open_attempt = float("-inf")
        try:
            self._module = importlib.import_module("picamera2")
        except ImportError:
            self._set_health(Health.ABSENT, "picamera2 not installed")
            return
        self._start()

    def _start(self) -> bool:
        assert self._module is not None
        self._last_open_attempt = time.monotonic()
        picam = None
        try:
            picam = self._module.Picamera2(self.camera_num)
            config = picam.create_video_configuration(main={"size": (self.width, self.height), "format": "RGB888"})
            picam.configure(config)
            picam.start()
        except Exception as exc:  # noqa: BLE001 - libcamera raises IndexError, RuntimeError, OSError...
            _quietly_close(picam)
            self._set_health(Health.ABSENT, f"no CSI camera {self.camera_num}: {exc or type(exc).__name__}")
            return False
        self._picam = picam
        self._set_health(Health.OK)
        return True

    def _read(self) -> np.ndarray:
        if self._picam is None:
            due = time.monotonic() - self._last_open_attempt >= self.reopen_interval_s
            if self._module is None or not (due and self._start()):
                raise DeviceDisconnected(self.status().reason or "camera not available", port=self.source_name)
        try:
            frame = self._picam.capture_array("main")
        except Exception as exc:  # noqa: BLE001 - any libcamera failure means the camera is gone for now
            _quietly_close(self._picam)
            self._picam = None
            self._last_open_attempt = time.monotonic()
            self._set_health(Health.ABSENT, f"CSI camera stopped delivering frames: {exc}")
            raise DeviceDisconnected("CSI camera stopped delivering frames", port=self.source_name) from exc
        # XRGB8888-style 4-channel buffers carry a padding byte; RGB888 is already BGR order.
        return np.ascontiguousarray(frame[:, :, :3])

    def _close(self) -> None:
        with self._lock:
            _quietly_close(self._picam)
            self._picam = None


def _quietly_close(picam: Any) -> None:
    if picam is None:
        return
    for method in ("stop", "close"):
        try:
            getattr(picam, method)()
        except Exception:  # noqa: BLE001, S110 - best effort while tearing down a broken camera
            pass
