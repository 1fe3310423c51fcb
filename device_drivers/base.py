"""The root of the device tree.

Every driver is a ``Device``: usable as a context manager, ``close()`` is idempotent, ``closed`` tells, and
``status()`` reports health as ``ok | absent | fault`` with a human reason, so the station can show "sensor
unplugged" without knowing what kind of device it is (gpiozero's ``Device`` is the model).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from types import TracebackType


class Health(enum.StrEnum):
    OK = "ok"
    ABSENT = "absent"
    FAULT = "fault"


@dataclass(frozen=True)
class DeviceStatus:
    health: Health
    reason: str = ""

    @classmethod
    def ok(cls, reason: str = "") -> DeviceStatus:
        return cls(Health.OK, reason)


class Device:
    """Base class: lifecycle and health. Subclasses implement ``_close()`` and may override ``status()``."""

    def __init__(self) -> None:
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the device; calling it again does nothing."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._close()

    def _close(self) -> None:
        """Release resources; called once."""

    def status(self) -> DeviceStatus:
        return DeviceStatus(Health.ABSENT, "closed") if self._closed else DeviceStatus.ok()

    def __enter__(self):  # noqa: ANN204 - returns the subclass instance
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
