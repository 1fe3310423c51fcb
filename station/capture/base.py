"""What every capture worker shares: the thread, the published state, the draft, and the in-memory previews."""

from __future__ import annotations

import enum
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class CaptureState(enum.StrEnum):
    """What a capture worker is doing; published as ``state`` on ``capture.<kind>`` events (the UI keys on it)."""

    STARTING = "starting"
    WAITING = "waiting"
    """Ready for the resident (a finger on the sensor, the pen on the pad)."""
    CHECKING = "checking"
    """Photo: frames are being checked; the hints say what to fix."""
    READING = "reading"
    """Fingerprint: a finger is on the glass and its image is coming over the wire (``progress`` 0-1); hold."""
    LIFTED_EARLY = "lifted_early"
    """Fingerprint: the finger left before the read finished; that touch does not count; place it again."""
    RETRY = "retry"
    """Fingerprint: the last attempt was not good enough; lift and try again."""
    ACCEPTED = "accepted"
    CAPTURED = "captured"
    """Photo taken and sealed."""
    SIGNING = "signing"
    COMPLETE = "complete"
    """Every finger is done or excepted."""
    DEVICE_MISSING = "device_missing"
    ERROR = "error"


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


class Worker:
    """A background thread bound to one draft; ``stop()`` is idempotent and bounded."""

    kind = "worker"

    def __init__(self, coordinator: Any, draft_id: str) -> None:
        self.coordinator = coordinator
        self.station = coordinator.station
        self.draft_id = draft_id
        self._stop = threading.Event()
        self._state: dict[str, Any] = {"state": CaptureState.STARTING}
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
            self.publish_error(exc)

    def publish_error(self, exc: BaseException, **data: Any) -> None:
        """An ERROR state with a message key the kiosk translates (``error``); the English text stays in the log."""
        log.warning("%s capture error (%s): %s", self.kind, error_key(exc), exc)
        self.publish(state=CaptureState.ERROR, error=error_key(exc), **data)

    def run(self) -> None:
        raise NotImplementedError


def error_key(exc: BaseException) -> str:
    """The message key for a capture error: ``storage_full``, ``step``, ``enrollment`` or ``internal``."""
    from station.enrollment import EnrollmentError, StepError
    from station.errors import StorageFull

    if isinstance(exc, StorageFull):
        return "storage_full"
    if isinstance(exc, StepError):
        return "step"
    if isinstance(exc, EnrollmentError):
        return "enrollment"
    return "internal"
