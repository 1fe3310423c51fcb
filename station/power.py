"""Battery policy: warn, stop new enrollments, and shut down cleanly before the battery dies.

A station in a village hall runs on a UPS HAT when the generator stops. Losing power mid-write is survivable (the
store is WAL + fsync) but a clean shutdown is better, and starting a 10-minute enrollment at 9 % is pointless.
Levels come from ``[power]``: at or below ``warn_percent`` WARN, ``stop_percent`` STOP (no new enrollment),
``shutdown_percent`` SHUTDOWN (the injected ``shutdown`` callable runs once). On mains the level is always OK.
A level only improves once the charge is ``HYSTERESIS_PERCENT`` above its threshold, so a gauge bouncing
between 9.9 and 10.1 does not flap the kiosk between "stop" and "warn". A failed battery read is reported as a
fault and keeps the previous level: one bad I2C transfer never shuts a station down. So is an impossible reading
(0.0 V, a voltage no running Pi can have, a percentage outside 0-100): a UPS HAT whose gauge lost its
calibration or its cell contact reads exactly that, and shutting down on it would end a session for nothing.
Reaching SHUTDOWN makes the shutdown *pending* for ``shutdown_grace_s`` (``power.shutdown_pending``); mains coming
back in that time cancels it (``power.shutdown_cancelled``). See docs/power.md.
"""

from __future__ import annotations

import enum
import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from device_drivers.errors import DeviceError
from station.config import PowerSection
from station.events import EventBus

log = logging.getLogger(__name__)


class PowerLevel(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    STOP = "stop"
    SHUTDOWN = "shutdown"


_RANK = {PowerLevel.OK: 0, PowerLevel.WARN: 1, PowerLevel.STOP: 2, PowerLevel.SHUTDOWN: 3}


@dataclass(frozen=True)
class PowerSnapshot:
    on_mains: bool | None
    battery_percent: float | None
    voltage_v: float | None
    charging: bool | None
    minutes_left: float | None
    """Estimated minutes until the shutdown threshold at the recent drain rate; None on mains or unknown."""
    level: PowerLevel
    fault: str = ""
    """Why the last battery read failed ("" when it worked)."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = str(self.level)
        return data


class BatterySource(Protocol):
    def read(self) -> Any: ...  # -> device_drivers.battery.BatteryReading


def systemctl_poweroff() -> None:
    """The production shutdown action (runtime passes it in; tests pass a recorder)."""
    subprocess.run(["systemctl", "poweroff"], check=False, timeout=30)


def log_only_shutdown() -> None:
    """The ``--simulate`` shutdown action: a simulated battery must not power off the developer's machine."""
    log.warning("simulated battery empty: a real station would power off now")


def default_shutdown(simulate: bool) -> Callable[[], None]:
    return log_only_shutdown if simulate else systemctl_poweroff


MIN_PLAUSIBLE_V = 2.0
"""No battery that still powers a Pi reads below this (one Li-ion cell is empty at 3.0 V)."""


def implausible(reading: Any) -> str:
    """Why a battery reading cannot be true ("" when it can)."""
    voltage, percent = reading.voltage_v, reading.percent
    if voltage is not None and not voltage >= MIN_PLAUSIBLE_V:  # also catches NaN
        return f"implausible battery reading: {voltage} V (gauge fault?)"
    if percent is None or not 0.0 <= percent <= 100.0:
        return f"implausible battery reading: {percent} %"
    return ""


class PowerPolicy:
    HYSTERESIS_PERCENT = 2.0

    def __init__(self, config: PowerSection, battery_source: BatterySource | None, bus: EventBus | None,
                 shutdown: Callable[[], None], *, clock: Callable[[], float] = time.monotonic,
                 poll_interval_s: float = 30.0, drain_window_s: float = 900.0,
                 shutdown_confirmations: int = 1, shutdown_grace_s: float = 0.0) -> None:
        self.config = config
        self.battery = battery_source
        self.bus = bus
        self._shutdown = shutdown
        self._clock = clock
        self.poll_interval_s = poll_interval_s
        self.drain_window_s = drain_window_s
        self.shutdown_confirmations = max(1, shutdown_confirmations)
        self.shutdown_grace_s = max(0.0, shutdown_grace_s)
        self._pending_since: float | None = None
        self._lock = threading.RLock()
        self._history: deque[tuple[float, float]] = deque()
        self._snapshot = PowerSnapshot(None, None, None, None, None, PowerLevel.OK)
        self._published: tuple | None = None
        self._shutdown_streak = 0
        self.shutdown_called = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # queries --------------------------------------------------------------------------------------------
    def snapshot(self) -> PowerSnapshot:
        return self._snapshot

    def allows_new_enrollment(self) -> bool:
        """False at STOP and SHUTDOWN: the resident would not finish before the battery does."""
        return self._snapshot.level in (PowerLevel.OK, PowerLevel.WARN)

    # polling --------------------------------------------------------------------------------------------
    def poll(self) -> PowerSnapshot:
        """Read the battery once, update level/estimate, publish changes, shut down if it is time."""
        with self._lock:
            if self.battery is None:
                self._set(PowerSnapshot(None, None, None, None, None, PowerLevel.OK))
                return self._snapshot
            try:
                reading = self.battery.read()
            except (DeviceError, OSError) as exc:
                log.warning("battery read failed: %s", exc)
                self._set(PowerSnapshot(**{**asdict(self._snapshot), "fault": str(exc) or type(exc).__name__}))
                return self._snapshot
            why = implausible(reading)
            if why:
                log.warning("%s; keeping the last good level", why)
                self._set(PowerSnapshot(**{**asdict(self._snapshot), "fault": why}))
                return self._snapshot
            on_mains = reading.on_mains if reading.on_mains is not None else (reading.charging or False)
            level = self._next_level(reading.percent, on_mains)
            minutes = self._estimate(reading.percent, on_mains)
            self._set(PowerSnapshot(reading.on_mains, reading.percent, reading.voltage_v, reading.charging,
                                    minutes, level))
            self._maybe_shutdown(level)
            return self._snapshot

    def mains_edge(self, present: bool) -> None:
        """The power-loss pin changed: say so at once (the kiosk's banner must not wait for the next gauge poll),
        with an estimate of the minutes left, then wake the poller for a full read."""
        with self._lock:
            snap = self._snapshot
            percent = snap.battery_percent
            minutes = None if present or percent is None else self._nominal_minutes(percent)
            level = PowerLevel.OK if present else (self.level_for(percent) if percent is not None else snap.level)
            self._set(replace(snap, on_mains=present, minutes_left=minutes, level=level,
                              charging=snap.charging if present else False))
        self._wake.set()

    def _nominal_minutes(self, percent: float) -> float:
        return round(max(0.0, (percent - self.config.shutdown_percent) / 100.0 * self.config.full_battery_minutes), 1)

    def _threshold(self, level: PowerLevel) -> float:
        return {PowerLevel.WARN: self.config.warn_percent, PowerLevel.STOP: self.config.stop_percent,
                PowerLevel.SHUTDOWN: self.config.shutdown_percent}.get(level, 100.0)

    def level_for(self, percent: float) -> PowerLevel:
        """The level for a charge on battery, without hysteresis."""
        for level in (PowerLevel.SHUTDOWN, PowerLevel.STOP, PowerLevel.WARN):
            if percent <= self._threshold(level):
                return level
        return PowerLevel.OK

    def _next_level(self, percent: float, on_mains: bool) -> PowerLevel:
        if on_mains:
            return PowerLevel.OK
        current = self._snapshot.level
        raw = self.level_for(percent)
        if _RANK[raw] >= _RANK[current] or self._snapshot.on_mains:
            return raw  # getting worse (or just lost mains): act at once
        damped = self.level_for(percent - self.HYSTERESIS_PERCENT)
        return damped if _RANK[damped] < _RANK[current] else current

    def _estimate(self, percent: float, on_mains: bool) -> float | None:
        now = self._clock()
        if on_mains:
            self._history.clear()
            return None
        self._history.append((now, percent))
        while self._history and now - self._history[0][0] > self.drain_window_s:
            self._history.popleft()
        if len(self._history) < 2 or now - self._history[0][0] < 60.0:
            return self._nominal_minutes(percent)  # too early to measure the drain: the rated runtime
        slope = _slope_per_min(self._history)
        if slope >= -1e-3:
            return None  # not draining measurably
        return round(max(0.0, (percent - self.config.shutdown_percent) / -slope), 1)

    def _maybe_shutdown(self, level: PowerLevel) -> None:
        if level is not PowerLevel.SHUTDOWN:
            self._shutdown_streak = 0
            if self._pending_since is not None and not self.shutdown_called:
                self._pending_since = None
                log.warning("shutdown cancelled (level %s, mains %s)", level, self._snapshot.on_mains)
                if self.bus is not None:
                    self.bus.publish("power.shutdown_cancelled", level=str(level), on_mains=self._snapshot.on_mains)
            return
        self._shutdown_streak += 1
        if self.shutdown_called or self._shutdown_streak < self.shutdown_confirmations:
            return
        now = self._clock()
        if self._pending_since is None:
            self._pending_since = now
            if self.shutdown_grace_s > 0 and self.bus is not None:
                self.bus.publish("power.shutdown_pending", in_s=self.shutdown_grace_s,
                                 battery_percent=self._snapshot.battery_percent)
        if now - self._pending_since < self.shutdown_grace_s:
            return
        self.shutdown_called = True
        if self.bus is not None:
            self.bus.publish("power.shutdown", **self._snapshot.as_dict())
        log.warning("battery at %s%%: shutting down", self._snapshot.battery_percent)
        try:
            self._shutdown()
        except Exception as exc:  # noqa: BLE001 - a failing shutdown must not kill the poller
            log.error("shutdown action failed: %s", exc)
            if self.bus is not None:
                self.bus.publish("power.fault", fault=f"shutdown failed: {exc}")

    @property
    def shutdown_pending(self) -> bool:
        return self._pending_since is not None and not self.shutdown_called

    def seconds_to_poll(self) -> float:
        """A pending shutdown is re-checked when its grace ends, not a whole poll interval later."""
        if self.shutdown_pending and self._pending_since is not None:
            left = self._pending_since + self.shutdown_grace_s - self._clock()
            return max(0.05, min(self.poll_interval_s, left))
        return self.poll_interval_s

    def _set(self, snap: PowerSnapshot) -> None:
        previous = self._snapshot
        self._snapshot = snap
        if self.bus is None:
            return
        if snap.level != previous.level:
            self.bus.publish("power.level", level=str(snap.level), previous=str(previous.level),
                             battery_percent=snap.battery_percent, on_mains=snap.on_mains)
        key = (snap.on_mains, snap.level, None if snap.battery_percent is None else round(snap.battery_percent),
               snap.charging, bool(snap.fault))
        if key != self._published:
            self._published = key
            self.bus.publish("power.changed", **snap.as_dict())

    # thread ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        on_edge = getattr(self.battery, "on_mains_change", None)
        if on_edge is not None:
            try:
                on_edge(self.mains_edge)
            except Exception:  # noqa: BLE001 - without edges the poll still sees mains, only later
                log.exception("cannot watch the power-loss pin")
        self._thread = threading.Thread(target=self._run, daemon=True, name="power-policy")
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - keep polling whatever a driver does
                log.exception("power poll failed")
            self._wake.wait(self.seconds_to_poll())
            self._wake.clear()


def _slope_per_min(samples: deque[tuple[float, float]]) -> float:
    """Least-squares slope of percent over time, in percent per minute."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_p = sum(p for _, p in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (p - mean_p) for t, p in samples)
    return cov / var * 60.0
