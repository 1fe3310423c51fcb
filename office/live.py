"""Live notifications from the ingest to the open dashboards (what the SSE streams wait on).

The ingest calls ``publish`` after each committed batch with the stations it touched; each open dashboard holds a
``Subscription`` and is woken at once. Notifications are coalesced per subscriber (a set of station ids plus
flags), so a slow browser never makes the ingest wait and never piles up a backlog: it just gets the latest rows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Change:
    """What changed since the subscriber last looked."""

    stations: set[str] = field(default_factory=set)
    alerts: bool = False
    closed: bool = False

    def __bool__(self) -> bool:
        return bool(self.stations) or self.alerts or self.closed


class Subscription:
    def __init__(self, hub: LiveHub) -> None:
        self._hub = hub
        self._cond = threading.Condition()
        self._pending = Change()

    def _add(self, stations: Iterable[str], alerts: bool, closed: bool = False) -> None:
        with self._cond:
            self._pending.stations.update(stations)
            self._pending.alerts = self._pending.alerts or alerts
            self._pending.closed = self._pending.closed or closed
            self._cond.notify()

    def wait(self, timeout_s: float) -> Change:
        """Everything published since the last call (empty after ``timeout_s`` with nothing new)."""
        with self._cond:
            if not self._pending:
                self._cond.wait(timeout_s)
            change, self._pending = self._pending, Change()
            return change

    def close(self) -> None:
        self._hub._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class HubFull(Exception):
    """Too many open live streams; the page falls back to reloading now and then."""


class LiveHub:
    def __init__(self, max_subscribers: int = 64) -> None:
        self.max_subscribers = max_subscribers
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self.closed = False

    def subscribe(self) -> Subscription:
        with self._lock:
            if len(self._subs) >= self.max_subscribers:
                raise HubFull(f"{len(self._subs)} live streams are open already")
            sub = Subscription(self)
            self._subs.append(sub)
        if self.closed:
            sub._add((), False, closed=True)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, stations: Iterable[str] = (), *, alerts: bool = False) -> None:
        stations = set(stations)
        if not stations and not alerts:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub._add(stations, alerts)

    def close(self) -> None:
        """Wake every stream so it ends (the server is stopping)."""
        self.closed = True
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub._add((), False, closed=True)
