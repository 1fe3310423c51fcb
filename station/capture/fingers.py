"""Fingerprints: sensor image -> quality score and the sensor's own verdict; up to ``max_attempts`` per finger, then
the best is kept and flagged; waits for the finger to be lifted between attempts; survives an unplugged sensor."""

from __future__ import annotations

import logging
from typing import Any

from device_drivers.errors import DeviceError
from station.capture.base import CaptureState, Worker
from station.devices import DeviceUnavailable
from station.errors import JemputError
from station.finger_image import encode_finger
from station.fingers import Finger

log = logging.getLogger(__name__)


class FingerCapture(Worker):
    """Captures the draft's next finger until all ten are done (or excepted); survives unplugging the sensor."""

    kind = "finger"
    LIFT_POLL_S = 0.3
    PROGRESS_STEP = 0.05
    """Publish read progress in steps of 5 %: live enough for the meter, few enough events for the bus."""

    def __init__(self, coordinator: Any, draft_id: str) -> None:
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
                self.publish(state=CaptureState.COMPLETE)
                return
            if finger in self._skipped:
                self._stop.wait(0.2)
                continue
            try:
                with self.station.devices.fingerprint() as sensor:
                    self._attempt(sensor, finger)
            except (DeviceError, DeviceUnavailable) as exc:  # unplugged or failing sensor: tell, wait, retry
                if self._stop.is_set():
                    return
                log.info("fingerprint sensor unavailable: %s", exc)
                self.publish(state=CaptureState.DEVICE_MISSING, device="fingerprint", finger=finger.code)
                self._stop.wait(1.0)
            except JemputError as exc:  # storage full, a refused step: not the cable; say what it is and retry
                if self._stop.is_set():
                    return
                self.publish_error(exc, finger=finger.code)
                self._stop.wait(2.0)

    def _attempt(self, sensor: Any, finger: Finger) -> None:
        from device_drivers.errors import DeviceTimeout
        from station.quality.fingerprint import fingerprint_score

        tries = self._attempts.setdefault(finger, [])
        waiting = (CaptureState.WAITING, CaptureState.LIFTED_EARLY)  # "lifted too early" already says "place again"
        if self._state.get("state") not in waiting or self._state.get("finger") != finger.code:
            self.publish(state=CaptureState.WAITING, finger=finger.code, attempt=len(tries) + 1,
                         max_attempts=self.max_attempts, last_score=tries[-1][0] if tries else None)
        attempt = len(tries) + 1
        shown = [-1.0]

        def seen() -> None:  # the finger is on the glass: say "hold" now, not after the seconds-long read
            self.publish(state=CaptureState.READING, finger=finger.code, attempt=attempt,
                         max_attempts=self.max_attempts, progress=0.0)
            shown[0] = 0.0

        def progress(fraction: float) -> None:
            if fraction - shown[0] >= self.PROGRESS_STEP or fraction >= 1.0 > shown[0]:
                shown[0] = fraction
                self.publish(state=CaptureState.READING, finger=finger.code, attempt=attempt,
                             max_attempts=self.max_attempts, progress=round(fraction, 3))

        try:
            image = sensor.capture_image(timeout=1.0, on_finger=seen, on_progress=progress)
        except DeviceTimeout:
            return  # no finger yet
        if finger in self._skipped or self.draft().next_finger != finger:
            return  # an exception was recorded for this finger meanwhile: this touch is for the next one
        verdict = self._template_verdict(sensor)
        if not finger_present(sensor):
            # Lifted during the read. The sensor cannot watch the glass while it sends the image, so a finger that
            # left may have been put back moved, or been another finger: this touch does not count (nor use up an
            # attempt), and the resident hears why instead of waiting in silence.
            self.publish(state=CaptureState.LIFTED_EARLY, finger=finger.code, attempt=attempt,
                         max_attempts=self.max_attempts)
            return
        quality = fingerprint_score(image, sensor_ok=verdict)
        try:
            encoded = encode_finger(image)
        except (ValueError, OSError) as exc:
            raise JemputError(f"could not encode the fingerprint image: {exc}") from exc
        tries.append((int(quality.score), encoded))
        good = quality.score >= self.threshold and verdict
        if good or len(tries) >= self.max_attempts:
            self._accept(finger, forced=not good)
        else:
            self.publish(state=CaptureState.RETRY, finger=finger.code, attempt=len(tries) + 1,
                         max_attempts=self.max_attempts, score=int(quality.score), reasons=list(quality.reasons),
                         hints_id=quality.hints("id"), hints_en=quality.hints("en"))
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
        self.publish(state=CaptureState.ACCEPTED, finger=finger.code, score=score, attempts=len(tries), forced=forced)

    def _wait_lift(self, sensor: Any) -> None:
        """Wait until the finger is off the glass, so one touch is never taken as two attempts."""
        while not self._stop.is_set() and finger_present(sensor):
            self._stop.wait(self.LIFT_POLL_S)


def finger_present(sensor: Any) -> bool:
    """Whether a finger is on the glass (the driver's GenImg check, without the slow image upload)."""
    return bool(sensor.finger_present())
