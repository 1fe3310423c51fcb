"""The camera interface every backend implements.

The preview loop and the photo checks only ever see ``Camera``: ``read()`` gives one BGR frame or raises
``DeviceDisconnected``; ``status()`` says ok / absent / fault with a reason a person can act on. Which hardware sits
behind it (USB webcam, CSI module, synthetic scene) is chosen once, by ``open_camera``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from device_drivers.base import Device, DeviceStatus, Health
from device_drivers.errors import DeviceDisconnected


class Camera(Device):
    """A source of BGR uint8 frames, shape (height, width, 3)."""

    #: name used in error messages (the "port" of a camera)
    source_name: str = "camera"

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        if width <= 0 or height <= 0:
            raise ValueError(f"camera size must be positive, not {width}x{height}")
        self.width = width
        self.height = height
        self._lock = threading.Lock()
        self._health = DeviceStatus.ok()

    def read(self) -> np.ndarray:
        """The next frame. Raises ``DeviceDisconnected`` when the camera is gone or closed."""
        with self._lock:
            if self.closed:
                raise DeviceDisconnected("camera is closed", port=self.source_name)
            return self._read()

    def _read(self) -> np.ndarray:
        raise NotImplementedError

    def frames(self) -> Iterator[np.ndarray]:
        """Frames until the camera is closed; a disconnect propagates so the caller can show it and retry."""
        while not self.closed:
            try:
                yield self.read()
            except DeviceDisconnected:
                if self.closed:
                    return
                raise

    def status(self) -> DeviceStatus:
        if self.closed:
            return DeviceStatus(Health.ABSENT, "closed")
        return self._health

    def _set_health(self, health: Health, reason: str = "") -> None:
        self._health = DeviceStatus(health, reason)
