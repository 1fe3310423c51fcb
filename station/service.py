"""The station's main loop under systemd: start, say READY once the kiosk answers, ping the watchdog, stop cleanly.

``serve()`` is what ``jemput station run`` does between parsing its options and exiting. The order matters on a
station that runs unattended:

* READY=1 only after the kiosk's ``/healthz`` answers (so ``jemput-kiosk.service``, ordered after the station,
  never starts Chromium on an error page). If it never answers, no READY is sent and systemd restarts the unit.
* WATCHDOG=1 at half of ``WATCHDOG_USEC``, from this loop, and only after the loop has taken the store lock: a
  deadlocked station (the lock held forever) or a loop that hangs stops the pings and systemd restarts it.
* On a battery-empty power-off (``Station.request_poweroff``) the loop ends like on SIGTERM: front ends stop, the
  station stops (telemetry says ``offline`` after the final status), the store closes, and only then does the
  power-off command run.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from station.sd_notify import SystemdNotifier

log = logging.getLogger("jemput.station")

HEALTH_TIMEOUT_S = 120.0
TICK_S = 1.0


def wait_until_answering(urls: list[str], timeout_s: float = HEALTH_TIMEOUT_S,
                         stop_event: threading.Event | None = None) -> bool:
    """True once every ``<url>/healthz`` answers 200 (False after ``timeout_s`` or when asked to stop)."""
    deadline = time.monotonic() + timeout_s
    pending = list(urls)
    while pending:
        try:
            with urllib.request.urlopen(pending[0].rstrip("/") + "/healthz", timeout=2) as response:
                if response.status == 200:
                    pending.pop(0)
                    continue
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline or (stop_event is not None and stop_event.is_set()):
            return False
        time.sleep(0.2)
    return True


def station_responsive(station: Any, timeout_s: float) -> bool:
    """The watchdog's question: can the station still take its store lock? A deadlock answers no."""
    if not station.db_lock.acquire(timeout=timeout_s):
        log.error("station store lock not available for %.1f s: withholding the watchdog ping", timeout_s)
        return False
    station.db_lock.release()
    return True


def serve(station: Any, stop_event: threading.Event, *,
          start_frontends: Callable[[Any], list[tuple[str, Any]]] | None,
          on_started: Callable[[Any], None] | None = None,
          notifier: SystemdNotifier | None = None) -> None:
    """Run ``station`` until ``stop_event`` is set or it asks to power off; always stops it cleanly."""
    notifier = notifier or SystemdNotifier()
    frontends: list[tuple[str, Any]] = []
    poweroff = getattr(station, "poweroff_requested", None) or threading.Event()
    try:
        station.start()
        if on_started is not None:
            on_started(station)
        if start_frontends is not None:
            frontends = start_frontends(station)
        urls = [handle.url for _name, handle in frontends if getattr(handle, "url", None)]
        if wait_until_answering(urls, stop_event=stop_event):
            notifier.ready(f"station {station.config.station.id} running")
            log.info("station %s running; SIGTERM or Ctrl-C stops it", station.config.station.id)
        else:
            log.error("the kiosk did not answer on %s: not telling systemd we are ready", ", ".join(urls))
        interval = notifier.watchdog_interval_s or TICK_S
        next_ping = 0.0
        while not stop_event.is_set() and not poweroff.is_set():
            now = time.monotonic()
            if notifier.watchdog_interval_s is not None and now >= next_ping:
                if station_responsive(station, interval):
                    notifier.watchdog()
                next_ping = now + interval
            stop_event.wait(min(TICK_S, interval))
        log.info("stopping%s", " for power-off" if poweroff.is_set() else "")
    finally:
        notifier.stopping()
        for name, handle in reversed(frontends):
            try:
                handle.stop()
            except Exception:  # noqa: BLE001 - stop the rest regardless, and say which failed
                log.exception("stopping front end %s failed", name)
        station.stop()
        notifier.close()
        finish = getattr(station, "finish_poweroff", None)
        if finish is not None:
            finish()
