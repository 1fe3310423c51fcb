"""The station status shown in the top bar and on the home screen, gathered from the station's services.

Every source is optional (a station without a battery HAT, without an uploader): a missing one shows as unknown,
never as an error page.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)


def _call(obj: Any, name: str, *args: Any) -> Any:
    fn = getattr(obj, name, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - a status read must never take the kiosk down
        log.exception("status: %s failed", name)
        return None


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return {}


def station_status(station: Any) -> dict[str, Any]:
    """A JSON-able dict: power, devices, queue, network, last upload."""
    power = _as_dict(_call(getattr(station, "power", None), "snapshot"))
    level = power.get("level")
    devices_raw = _call(getattr(station, "devices", None), "health") or {}
    devices = {
        name: {"health": str(_as_dict(info).get("health", "absent")), "reason": _as_dict(info).get("reason", "")}
        for name, info in devices_raw.items()
    }
    with station.db_lock:
        stats = _as_dict(_call(station.outbox, "stats"))
        last = _call(station.outbox, "last_acknowledged")
    uploader = getattr(station, "uploader", None)
    sync = _as_dict(_call(uploader, "progress")) if uploader is not None else {}
    state = sync.get("state")
    online = network_online(sync)
    return {
        "power": {
            "on_mains": power.get("on_mains"),
            "battery_percent": _round(power.get("battery_percent")),
            "minutes_left": _round(power.get("minutes_left")),
            "charging": power.get("charging"),
            "level": str(level) if level is not None else None,
        },
        "devices": devices,
        "queue": {
            "pending": stats.get("pending", 0),
            "pending_bytes": stats.get("pending_bytes", 0),
            "acknowledged_total": stats.get("acknowledged_total", 0),
            "rejected": stats.get("rejected", 0),
        },
        "network": {"uploader": uploader is not None, "online": online, "state": state,
                    "last_error": sync.get("last_error")},
        "last_upload": _iso(getattr(last, "acknowledged_at", None)),
        "last_upload_local": _local_hhmm(getattr(last, "acknowledged_at", None)),
        "ts": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def network_online(sync: dict[str, Any]) -> bool | None:
    """Whether the office is reachable, from the uploader's snapshot: True while uploading and while idle after a
    round that reached the office; False while backing off after failures; None (unknown) before any attempt, when
    paused or stopped, or without an uploader."""
    state = sync.get("state")
    if state == "uploading":
        return True
    if state == "backoff" or (state == "idle" and sync.get("last_error")):
        return False
    if state == "idle" and (sync.get("bytes_sent") or 0) > 0:
        return True  # the last round got through and nothing failed since
    return None


def todays_outbox(station: Any, now: datetime | None = None) -> list[Any]:
    """Today's (local day) outbox records, newest first, selected in SQL (a busy station has thousands of rows)."""
    from station.outbox import iso

    start = (now or datetime.now().astimezone()).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    with station.db_lock:
        ids = [r[0] for r in station.conn.execute(
            "SELECT packet_id FROM outbox WHERE created_at >= ? AND created_at < ? ORDER BY created_at DESC, "
            "packet_id DESC", (iso(start), iso(end))).fetchall()]
        items = [station.outbox.get(packet_id) for packet_id in ids]
    return [i for i in items if i is not None]


def battery_level_icon(percent: float | None) -> int:
    """0-4 bars for the battery icon."""
    if percent is None:
        return 0
    return max(0, min(4, int((percent + 12.5) // 25)))


def _round(value: Any) -> Any:
    return round(value) if isinstance(value, int | float) else None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def _local_hhmm(value: Any) -> str | None:
    return value.astimezone().strftime("%H:%M") if isinstance(value, datetime) else None
