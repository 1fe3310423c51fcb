"""Signature: pen points from the pad -> live ink events; on accept, strokes -> PNG -> ``signature_quality``."""

from __future__ import annotations

import threading
import time
from typing import Any

import cv2
import numpy as np

from station.capture.base import CaptureState, Worker
from station.errors import JemputError

PEN_BATCH_S = 0.05
SIGNATURE_PNG_SIZE = (720, 200)


class SignatureCapture(Worker):
    """Reads pen points while the draft is at the signature step; publishes them for live ink."""

    kind = "signature"

    def __init__(self, coordinator: Any, draft_id: str) -> None:
        super().__init__(coordinator, draft_id)
        from device_drivers.signature_pad.strokes import SIGLITE_T_S460

        self.bounds = SIGLITE_T_S460
        self._points: list[Any] = []
        self._lock = threading.Lock()

    @property
    def extent(self) -> dict[str, float]:
        return {"aspect": round(self.bounds.aspect, 3)}

    def _norm(self, p: Any) -> list[float]:
        b = self.bounds
        x = min(1.0, max(0.0, (p.x - b.x_min) / (b.x_max - b.x_min)))
        y = min(1.0, max(0.0, (p.y - b.y_min) / (b.y_max - b.y_min)))
        return [round(x, 4), round(y, 4), 1 if p.pen_down else 0]

    def compact_points(self) -> list[list[float]]:
        with self._lock:
            return [self._norm(p) for p in self._points]

    def clear(self) -> None:
        with self._lock:
            self._points.clear()
        self.station.bus.publish("pen.clear", draft_id=self.draft_id)
        self.publish(state=CaptureState.WAITING, points=0)

    def run(self) -> None:
        self.publish(state=CaptureState.WAITING, points=0)
        last_step_check = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - last_step_check > 2.0:
                if str(self.draft().step) != "signature":
                    return
                last_step_check = time.monotonic()
            pad = getattr(self.station.devices, "signature_pad", None)
            try:
                if pad is None:
                    raise JemputError("no signature pad")
                points = pad.read_points(timeout=PEN_BATCH_S)
            except Exception as exc:  # noqa: BLE001 - unplugged pad: tell, wait, retry
                self.publish(state=CaptureState.DEVICE_MISSING, device="signature_pad", message=str(exc))
                self._stop.wait(1.0)
                continue
            if points:
                with self._lock:
                    self._points.extend(points)
                    total = len(self._points)
                self.station.bus.publish("pen.points", draft_id=self.draft_id,
                                         points=[self._norm(p) for p in points])
                if self._state.get("state") != CaptureState.SIGNING:
                    self.publish(state=CaptureState.SIGNING, points=total)
            elif self._state.get("state") == CaptureState.DEVICE_MISSING:
                self.publish(state=CaptureState.WAITING, points=len(self._points))  # the pad is back

    def accept(self) -> Any | None:
        """Seal the signature if it passes; otherwise return the ``SignatureQuality`` that says why not."""
        from device_drivers.signature_pad.strokes import points_to_dicts
        from station.quality.signature import signature_quality

        with self._lock:
            points = list(self._points)
        quality = signature_quality(points)
        if not quality.passed:
            return quality
        png = render_signature(points, self.bounds)
        meta = quality.as_dict()
        with self.station.db_lock:
            self.station.enrollment.accept_signature(self.draft_id, points_to_dicts(points), png, meta)
        self.coordinator.previews.put(self.draft_id, "signature", png)
        self.publish(state=CaptureState.ACCEPTED, points=len(points))
        self._stop.set()
        return None


def render_signature(points: list[Any], bounds: Any, size: tuple[int, int] = SIGNATURE_PNG_SIZE) -> bytes:
    """Pen points -> black ink on white, PNG bytes (the ``signature.png`` part)."""
    from device_drivers.signature_pad.strokes import assemble_strokes, normalise_strokes, to_pixels

    width, height = size
    canvas = np.full((height, width), 255, np.uint8)
    strokes = to_pixels(normalise_strokes(assemble_strokes(points), bounds), width, height)
    for stroke in strokes:
        if len(stroke) == 1:
            cv2.circle(canvas, stroke[0], 1, 0, -1, cv2.LINE_AA)
        else:
            cv2.polylines(canvas, [np.array(stroke, np.int32)], False, 0, 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", canvas)
    if not ok:
        raise JemputError("could not encode the signature image")
    return buf.tobytes()
