"""USB (UVC) webcams, or any source cv2.VideoCapture opens (a device path, an index, a video file)."""

from __future__ import annotations

import time

import cv2
import numpy as np

from device_drivers.base import Health
from device_drivers.camera.base import Camera
from device_drivers.errors import DeviceDisconnected


def parse_source(source: str | int) -> str | int:
    """``"0"`` -> device index 0; anything else (``/dev/video2``, a file) stays a path."""
    if isinstance(source, int):
        return source
    text = str(source).strip()
    return int(text) if text.isdigit() else text


class OpenCVCamera(Camera):
    """A camera behind ``cv2.VideoCapture``.

    Never raises from the constructor: a missing camera is *absent* with a reason, so the station can start and
    show "camera unplugged". A failed read closes the capture and raises ``DeviceDisconnected``; a later ``read()``
    re-opens it (at most once per ``reopen_interval_s``), which is how a replugged webcam comes back.
    """

    def __init__(self, source: str | int = "0", width: int = 640, height: int = 480, *,
                 reopen_interval_s: float = 1.0) -> None:
        super().__init__(width, height)
        self._source = parse_source(source)
        self.source_name = f"video{self._source}" if isinstance(self._source, int) else str(self._source)
        self.reopen_interval_s = reopen_interval_s
        self._cap: cv2.VideoCapture | None = None
        self._last_open_attempt = float("-inf")
        self._open()

    def _open(self) -> bool:
        self._last_open_attempt = time.monotonic()
        try:
            cap = cv2.VideoCapture(self._source)
            opened = cap.isOpened()
        except cv2.error as exc:
            self._set_health(Health.ABSENT, f"cannot open camera {self.source_name}: {exc}")
            return False
        if not opened:
            cap.release()
            self._set_health(Health.ABSENT, f"cannot open camera {self.source_name} (not connected or busy)")
            return False
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # live preview: the newest frame, not one queued seconds ago
        self._cap = cap
        self._set_health(Health.OK)
        return True

    def _read(self) -> np.ndarray:
        if self._cap is None:
            due = time.monotonic() - self._last_open_attempt >= self.reopen_interval_s
            if not (due and self._open()):
                raise DeviceDisconnected(self.status().reason or "camera not available", port=self.source_name)
        assert self._cap is not None
        try:
            ok, frame = self._cap.read()
        except cv2.error:
            ok, frame = False, None
        if not ok or frame is None:
            self._drop("camera stopped delivering frames (unplugged?)")
            raise DeviceDisconnected("camera stopped delivering frames", port=self.source_name, expected="a frame")
        return _as_bgr(frame)

    def _drop(self, reason: str) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._last_open_attempt = time.monotonic()
        self._set_health(Health.ABSENT, reason)

    def _close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    """Some UVC cameras deliver grey or BGRA; the rest of the station expects 3-channel BGR."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame
