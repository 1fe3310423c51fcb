"""Capture workers: the station-side glue between the devices, the quality checks and the enrollment workflow.

One background worker per kind of capture (the devices are single): photo (camera frames -> ``PhotoChecker`` ->
hints, auto-capture after a few passing frames in a row, crop, JPEG), fingerprints (sensor image -> score and the
sensor's own template verdict, up to ``max_attempts`` per finger, then the best is kept and flagged) and signature
(pen points -> strokes -> PNG -> ``signature_quality``). Everything accepted goes straight to ``EnrollmentService``,
which seals it at once; plaintext stays only in memory (``PreviewCache``) for the live preview and the review
screen. Progress goes out on the event bus (``capture.*``, ``pen.points``) for the UI. No Flask here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from station.errors import JemputError
from station.fingers import Finger

log = logging.getLogger(__name__)

PREVIEW_WIDTH_PX = 480
PHOTO_CHECK_INTERVAL_S = 0.25
PHOTO_PASSES_NEEDED = 3
VIEWER_IDLE_S = 20.0
PEN_BATCH_S = 0.05
SIGNATURE_PNG_SIZE = (720, 200)


class PreviewCache:
    """Plaintext captures kept in memory only, per draft, for the review screen (never written to disk)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def put(self, draft_id: str, kind: str, data: bytes) -> None:
        with self._lock:
            self._items[(draft_id, kind)] = data

    def photo(self, draft_id: str) -> bytes | None:
        return self._items.get((draft_id, "photo"))

    def signature(self, draft_id: str) -> bytes | None:
        return self._items.get((draft_id, "signature"))

    def forget(self, draft_id: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == draft_id]:
                del self._items[key]


class _Worker:
    """A background thread bound to one draft; ``stop()`` is idempotent and bounded."""

    kind = "worker"

    def __init__(self, coordinator: CaptureCoordinator, draft_id: str) -> None:
        self.coordinator = coordinator
        self.station = coordinator.station
        self.draft_id = draft_id
        self._stop = threading.Event()
        self._state: dict[str, Any] = {"state": "starting"}
        self._thread = threading.Thread(target=self._guarded, name=f"capture-{self.kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait_s: float = 3.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=wait_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _wake(self) -> None:
        """Wake anyone waiting on this worker (preview streams)."""

    def state(self) -> dict[str, Any]:
        return dict(self._state)

    def publish(self, **data: Any) -> None:
        self._state = data
        self.station.bus.publish(f"capture.{self.kind}", draft_id=self.draft_id, **data)

    def draft(self) -> Any:
        with self.station.db_lock:
            return self.station.enrollment.get(self.draft_id)

    def _guarded(self) -> None:
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001 - a crashed worker must say so on screen, not vanish
            log.exception("%s capture failed", self.kind)
            self.publish(state="error", message=str(exc))

    def run(self) -> None:
        raise NotImplementedError


class PhotoCapture(_Worker):
    kind = "photo"

    def __init__(self, coordinator: CaptureCoordinator, draft_id: str) -> None:
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
            checks = [{"name": c.name, "passed": c.passed, "hint_id": c.hint_id, "hint_en": c.hint_en}
                      for c in quality.checks]
            if passes >= PHOTO_PASSES_NEEDED:
                self._accept(checker, frame, quality)
                return
            self.publish(state="checking", passed=quality.passed, checks=checks)

    def _read_frame(self) -> np.ndarray | None:
        hub = self.station.devices
        try:
            if hub is None:
                raise JemputError("no camera")
            return hub.read_frame()
        except Exception as exc:  # noqa: BLE001 - DeviceError or anything the backend throws: show and retry
            self.publish(state="device_missing", device="camera", message=str(exc))
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
        from station.quality.photo import crop_portrait

        portrait = crop_portrait(frame, quality)
        ok, buf = cv2.imencode(".jpg", portrait, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise JemputError("could not encode the photo")
        jpeg = buf.tobytes()
        meta = {**quality.as_dict(), "width_px": int(portrait.shape[1]), "height_px": int(portrait.shape[0])}
        with self.station.db_lock:
            self.station.enrollment.accept_photo(self.draft_id, jpeg, meta)
        self.coordinator.previews.put(self.draft_id, "photo", jpeg)
        self.publish(state="captured")


class FingerCapture(_Worker):
    """Captures the draft's next finger until all ten are done (or excepted); survives unplugging the sensor."""

    kind = "finger"
    LIFT_POLL_S = 0.3

    def __init__(self, coordinator: CaptureCoordinator, draft_id: str) -> None:
        super().__init__(coordinator, draft_id)
        cfg = self.station.config.devices.fingerprint
        self.threshold = cfg.quality_threshold
        self.max_attempts = cfg.max_attempts
        self._attempts: dict[Finger, list[tuple[int, bytes]]] = {}
        self._skipped: set[Finger] = set()

    def skip(self, finger: Finger) -> None:
        """The operator is recording an exception for ``finger``: do not accept a capture for it."""
        self._skipped.add(finger)

    def run(self) -> None:
        while not self._stop.is_set():
            draft = self.draft()
            finger = draft.next_finger
            if str(draft.step) != "fingerprints" or finger is None:
                self.publish(state="complete")
                return
            if finger in self._skipped:
                self._stop.wait(0.2)
                continue
            try:
                with self.station.devices.fingerprint() as sensor:
                    self._attempt(sensor, finger)
            except Exception as exc:  # noqa: BLE001 - DeviceUnavailable/DeviceError: tell, wait, retry
                if self._stop.is_set():
                    return
                log.info("fingerprint sensor unavailable: %s", exc)
                self.publish(state="device_missing", device="fingerprint", finger=finger.code, message=str(exc))
                self._stop.wait(1.0)

    def _attempt(self, sensor: Any, finger: Finger) -> None:
        from device_drivers.errors import DeviceTimeout
        from station.quality.fingerprint import fingerprint_score

        tries = self._attempts.setdefault(finger, [])
        if self._state.get("state") != "waiting" or self._state.get("finger") != finger.code:
            self.publish(state="waiting", finger=finger.code, attempt=len(tries) + 1, max_attempts=self.max_attempts,
                         last_score=tries[-1][0] if tries else None)
        try:
            image = sensor.capture_image(timeout=1.0)
        except DeviceTimeout:
            return  # no finger yet
        if finger in self._skipped or self.draft().next_finger != finger:
            return  # an exception was recorded for this finger meanwhile: this touch is for the next one
        verdict = self._template_verdict(sensor)
        quality = fingerprint_score(image, sensor_ok=verdict)
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise JemputError("could not encode the fingerprint image")
        tries.append((int(quality.score), buf.tobytes()))
        good = quality.score >= self.threshold and verdict
        if good or len(tries) >= self.max_attempts:
            self._accept(finger, forced=not good)
        else:
            self.publish(state="retry", finger=finger.code, attempt=len(tries) + 1, max_attempts=self.max_attempts,
                         score=int(quality.score), reasons=list(quality.reasons))
        self._wait_lift(sensor)

    @staticmethod
    def _template_verdict(sensor: Any) -> bool:
        """Whether the sensor itself can extract features from the image (Img2Tz, the first half of
        ``create_template``); its "too messy" / "too few features" answers are a verdict, not a fault."""
        from device_drivers.fingerprint.protocol import ImageQualityError

        try:
            if hasattr(sensor, "image_ok"):
                return bool(sensor.image_ok())
            sensor.create_template()
        except ImageQualityError:
            return False
        return True

    def _accept(self, finger: Finger, *, forced: bool) -> None:
        tries = self._attempts[finger]
        score, png = max(tries, key=lambda t: t[0])
        draft = self.draft()
        if draft.next_finger != finger or finger in self._skipped:
            return  # the operator recorded an exception meanwhile
        with self.station.db_lock:
            self.station.enrollment.accept_finger(self.draft_id, finger, png, score=score, attempts=len(tries),
                                                  force_captured=forced)
        self.publish(state="accepted", finger=finger.code, score=score, attempts=len(tries), forced=forced)

    def _wait_lift(self, sensor: Any) -> None:
        """Wait until the finger is off the glass, so one touch is never taken as two attempts."""
        while not self._stop.is_set() and finger_present(sensor):
            self._stop.wait(self.LIFT_POLL_S)


def finger_present(sensor: Any) -> bool:
    """GenImg without the slow image upload: the sensor answers "no finger" or takes an image.

    Uses the driver's ``finger_present()`` when it has one; otherwise sends GenImg through the driver's command
    path (the R30x protocol has no cheaper presence check).
    """
    if hasattr(sensor, "finger_present"):
        return bool(sensor.finger_present())
    from device_drivers.fingerprint.protocol import Instruction, NoFinger

    try:
        sensor._command(Instruction.GEN_IMG, expected="a finger image (GenImg)")
    except NoFinger:
        return False
    return True


class SignatureCapture(_Worker):
    """Reads pen points while the draft is at the signature step; publishes them for live ink."""

    kind = "signature"

    def __init__(self, coordinator: CaptureCoordinator, draft_id: str) -> None:
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
        self.publish(state="waiting", points=0)

    def run(self) -> None:
        self.publish(state="waiting", points=0)
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
                self.publish(state="device_missing", device="signature_pad", message=str(exc))
                self._stop.wait(1.0)
                continue
            if points:
                with self._lock:
                    self._points.extend(points)
                    total = len(self._points)
                self.station.bus.publish("pen.points", draft_id=self.draft_id,
                                         points=[self._norm(p) for p in points])
                if self._state.get("state") != "signing":
                    self.publish(state="signing", points=total)

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
        self.publish(state="accepted", points=len(points))
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


class CaptureCoordinator:
    """Starts at most one worker per kind, for the draft on screen; a new draft replaces the old worker."""

    def __init__(self, station: Any) -> None:
        self.station = station
        self.previews = PreviewCache()
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()

    def _get(self, cls: type[_Worker], draft_id: str) -> Any:
        with self._lock:
            worker = self._workers.get(cls.kind)
            if worker is not None and worker.draft_id == draft_id and worker.alive:
                return worker
            if worker is not None:
                worker.stop()
            worker = cls(self, draft_id)
            self._workers[cls.kind] = worker
            worker.start()
            return worker

    def photo(self, draft_id: str) -> PhotoCapture:
        return self._get(PhotoCapture, draft_id)

    def fingers(self, draft_id: str) -> FingerCapture:
        return self._get(FingerCapture, draft_id)

    def signature(self, draft_id: str) -> SignatureCapture:
        return self._get(SignatureCapture, draft_id)

    def live_states(self) -> list[tuple[str, dict[str, Any]]]:
        """``(topic, data)`` of every running worker's last state: what a page that just connected has missed."""
        with self._lock:
            workers = [w for w in self._workers.values() if w.alive]
        return [(f"capture.{w.kind}", {"draft_id": w.draft_id, **w.state()}) for w in workers]

    def forget(self, draft_id: str, *, keep_photo: bool = False) -> None:
        """Stop this draft's workers and drop its plaintext previews (finished, cancelled, or going back)."""
        with self._lock:
            workers = [w for w in self._workers.values() if w.draft_id == draft_id]
        for worker in workers:
            worker.stop()
        photo = self.previews.photo(draft_id) if keep_photo else None
        self.previews.forget(draft_id)
        if photo is not None:
            self.previews.put(draft_id, "photo", photo)

    def stop(self) -> None:
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop()
