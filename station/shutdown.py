"""The last thing a station says before its battery runs out: a ``power_shutdown`` event and a final status.

The office sees a station go dark for one of two reasons: it shut down on purpose (this event, then the retained
``offline`` state) or it lost power or network (only the last will). Telling them apart decides whether somebody
drives out with a charger or a technician. The wait is bounded: with no network the station powers off anyway,
and the broker's last will reports it offline.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

FINAL_STATUS_TIMEOUT_S = 10.0


def announce_shutdown(station: Any, timeout_s: float = FINAL_STATUS_TIMEOUT_S) -> bool:
    """Queue the event and a fresh status on the station's telemetry and wait until both are sent (bounded).
    True when they went out; False when there is no telemetry or no link."""
    telemetry = getattr(station, "telemetry", None)
    power = getattr(station, "power", None)
    snap = power.snapshot() if power is not None else None
    detail = {"battery_percent": getattr(snap, "battery_percent", None), "voltage_v": getattr(snap, "voltage_v", None),
              "reason": "battery empty"}
    station.bus.publish("station.poweroff", **detail)
    if telemetry is None:
        return False
    stats = telemetry.stats
    events_before, status_before = stats["events_published"], stats["status_published"]
    telemetry.publish_event("power_shutdown", "critical", detail)
    telemetry.request_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stats["events_published"] > events_before and stats["status_published"] > status_before:
            log.warning("final status and shutdown event sent")
            return True
        time.sleep(0.05)
    log.warning("final status not sent within %.0f s (no link?); powering off anyway", timeout_s)
    return False
