"""Photo: camera frames -> ``PhotoChecker`` -> live hints; auto-capture after a few passing frames; crop; JPEG."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from station.capture.base import CaptureState, Worker
from station.errors import JemputError

PREVIEW_WIDTH_PX = 480
PHOTO_CHECK_INTERVAL_S = 0.25
PHOTO_PASSES_NEEDED = 3
VIEWER_IDLE_S = 20.0


class PhotoCapture(Worker):
    kind = "photo"

    def __init__(self, coordinator: Any, draft_id: str) -> None:
        super().__init__(coordinator, draft_id)
        self._frame_cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._last_viewer = time.monotonic()

    def _wake(self) -> None:
        with self._frame_cond:
            self._frame_cond.notify_all()

    def preview_frames(self, stopping: threading.Event) -> Iterator[bytes]:
        """Each new preview JPEG while the worker runs (the MJPEG stream); counts as a viewer."""
        seen = -1
        while self.alive and not stopping.is_set():
            with self._frame_cond:
                if self._seq == seen:
                    self._frame_cond.wait(timeout=1.0)
                jpeg, seq = self._jpeg, self._seq
            self._last_viewer = time.monotonic()
            if jpeg is not None and seq != seen:
                seen = seq
                yield jpeg

    def run(self) -> None:
        from station.quality.photo import PhotoChecker

        if str(self.draft().step) != "photo":
            return
        checker = PhotoChecker()
        passes, last_check = 0, 0.0
        while not self._stop.is_set():
            if time.monotonic() - self._last_viewer > VIEWER_IDLE_S:
                return  # nobody is looking: free the camera; the page restarts us
            frame = self._read_frame()
            if frame is None:
                continue
            self._publish_preview(frame)
            if time.monotonic() - last_check < PHOTO_CHECK_INTERVAL_S:
                continue
            last_check = time.monotonic()
            quality = checker.check(frame)
            passes = passes + 1 if quality.passed else 0
            checks = [{"name": c.name, "passed": c.passed, "hint_id": c.hint_id, "hint_en": c.hint_en,
                       "hint_key": c.hint_key}
                      for c in quality.checks]
            if passes >= PHOTO_PASSES_NEEDED:
                self._accept(checker, frame, quality)
                return
            self.publish(state=CaptureState.CHECKING, passed=quality.passed, checks=checks)

    def _read_frame(self) -> np.ndarray | None:
        hub = self.station.devices
        try:
            if hub is None:
                raise JemputError("no camera")
            return hub.read_frame()
        except Exception as exc:  # noqa: BLE001 - DeviceError or anything the backend throws: show and retry
            self.publish(state=CaptureState.DEVICE_MISSING, device="camera", message=str(exc))
            self._stop.wait(1.0)
            return None

    def _publish_preview(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (PREVIEW_WIDTH_PX, int(h * PREVIEW_WIDTH_PX / w))) if w > PREVIEW_WIDTH_PX else frame
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
        if ok:
            with self._frame_cond:
                self._jpeg, self._seq = buf.tobytes(), self._seq + 1
                self._frame_cond.notify_all()

    def _accept(self, checker: Any, frame: np.ndarray, quality: Any) -> None:
        from station.capture.photo_encoding import encode_portrait
        from station.quality.photo import crop_portrait

        portrait = crop_portrait(frame, quality)
        try:
            encoded = encode_portrait(portrait)
        except ValueError as exc:
            raise JemputError("could not encode the photo") from exc
        jpeg = encoded.jpeg
        meta = {**quality.as_dict(), "width_px": encoded.width_px, "height_px": encoded.height_px,
                "jpeg_quality": encoded.quality}
        with self.station.db_lock:
            self.station.enrollment.accept_photo(self.draft_id, jpeg, meta)
        self.coordinator.previews.put(self.draft_id, "photo", jpeg)
        self.publish(state=CaptureState.CAPTURED)
