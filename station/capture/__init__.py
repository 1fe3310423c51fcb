"""Capture workers: the station-side glue between the devices, the quality checks and the enrollment workflow.

One background worker per kind of capture (the devices are single): photo (camera frames -> ``PhotoChecker`` ->
hints, auto-capture after a few passing frames in a row, crop, JPEG), fingerprints (sensor image -> score and the
sensor's own template verdict, up to ``max_attempts`` per finger, then the best is kept and flagged) and signature
(pen points -> strokes -> PNG -> ``signature_quality``). Everything accepted goes straight to ``EnrollmentService``,
which seals it at once; plaintext stays only in memory (``PreviewCache``) for the live preview and the review
screen. Progress goes out on the event bus (``capture.*``, ``pen.points``) for the UI. No Flask here.
"""

from __future__ import annotations

import threading
from typing import Any

from station.capture.base import CaptureState, PreviewCache, Worker
from station.capture.fingers import FingerCapture, finger_present
from station.capture.photo import PhotoCapture
from station.capture.signature import SignatureCapture, render_signature

__all__ = ["CaptureCoordinator", "CaptureState", "FingerCapture", "PhotoCapture", "PreviewCache", "SignatureCapture",
           "finger_present", "render_signature"]


class CaptureCoordinator:
    """Starts at most one worker per kind, for the draft on screen; a new draft replaces the old worker."""

    def __init__(self, station: Any) -> None:
        self.station = station
        self.previews = PreviewCache()
        self._workers: dict[str, Worker] = {}
        self._lock = threading.Lock()

    def _get(self, cls: type[Worker], draft_id: str) -> Any:
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
