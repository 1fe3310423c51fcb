"""A small in-process event bus.

Devices, the enrollment workflow, the uploader and the power policy publish; the UI's SSE stream, the MQTT relay
and the audit trail subscribe. Publishing never blocks on a slow subscriber: each subscription has a bounded queue
and drops its oldest event (counting the drop) when full, so a stalled browser tab cannot stall a capture.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Event:
    topic: str
    """Dotted name, e.g. ``device.fingerprint``, ``sync.progress``, ``power.changed``, ``pen.points``."""
    data: dict[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))


class Subscription:
    """A bounded queue of events whose topics start with one of ``prefixes``."""

    def __init__(self, bus: EventBus, prefixes: tuple[str, ...], maxsize: int) -> None:
        self._bus = bus
        self.prefixes = prefixes
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=maxsize)
        self.dropped = 0

    def wants(self, topic: str) -> bool:
        return not self.prefixes or topic.startswith(self.prefixes)

    def offer(self, event: Event) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def get(self, timeout_s: float | None = None) -> Event | None:
        """Next event, or ``None`` after ``timeout_s``."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, *prefixes: str, maxsize: int = 256) -> Subscription:
        sub = Subscription(self, prefixes, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, topic: str, **data: Any) -> Event:
        event = Event(topic, data)
        with self._lock:
            subs = [s for s in self._subs if s.wants(topic)]
        for sub in subs:
            sub.offer(event)
        return event
