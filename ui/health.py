"""``GET /healthz``: the kiosk answers, so the station is up.

What waits on it: the station's systemd notification (READY=1 once the UI answers), the kiosk unit (Chromium starts
only when this answers) and the arm64 check's smoke. No log-in and no personal data: a station id, the version and
the queue length are all it says, and it is served on loopback only, like the rest of the kiosk.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    from ui import kiosk

    station = kiosk().station
    config = station.config
    return {"ok": True, "station": config.station.id, "district": config.station.district,
            "simulate": bool(getattr(station, "simulate", False)), "locked": bool(getattr(station, "locked", False))}
