"""Build the ``jemput.status/1`` JSON (DESIGN §7) from a station snapshot, and decide what change is significant.

Kept apart from the MQTT relay so it is a pure function over dicts: the snapshot comes from an injected callable
(the runtime's ``Station.snapshot``) and may hold dataclasses (``PowerSnapshot``, ``QueueStats``) or plain dicts;
missing parts become ``null`` rather than an error, because a station with a dead battery chip must still report.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUS_SCHEMA = "jemput.status/1"
DEVICE_NAMES = ("camera", "fingerprint", "signature_pad", "battery")
_POWER_KEYS = ("on_mains", "battery_percent", "voltage_v", "charging", "minutes_left")
_QUEUE_KEYS = ("pending", "pending_bytes", "oldest_pending_age_s", "acknowledged_total")
BATTERY_STEP_PERCENT = 5


def iso_utc(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return value
    return {k: getattr(value, k) for k in dir(value) if not k.startswith("_") and not callable(getattr(value, k))}


def device_health(value: Any) -> str:
    """Map a device hub health entry (``"ok"`` or ``{"health": "ok", ...}``) to ok / absent / fault."""
    if isinstance(value, dict):
        value = value.get("health")
    value = str(getattr(value, "value", value) or "absent").lower()
    if value == "ok":
        return "ok"
    if value in ("absent", "missing", "disconnected", "unplugged", "none"):
        return "absent"
    return "fault"


def cpu_temp_c(path: Path = Path("/sys/class/thermal/thermal_zone0/temp")) -> float | None:
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def free_mb(path: Path) -> int | None:
    try:
        return int(shutil.disk_usage(path).free // (1024 * 1024))
    except OSError:
        return None


def _session(value: Any) -> dict[str, Any] | None:
    data = _as_dict(value)
    if not data:
        return None
    return {"id": data.get("id"), "desa": data.get("desa", data.get("kode_desa")), "enrolled": data.get("enrolled", 0)}


def build_status(snapshot: dict[str, Any], *, station: str, district: str, data_dir: Path | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """The status message; exactly the DESIGN §7 keys, in that order."""
    now = now or datetime.now(UTC)
    power = _as_dict(snapshot.get("power"))
    queue = _as_dict(snapshot.get("queue"))
    devices = _as_dict(snapshot.get("devices"))
    storage = _as_dict(snapshot.get("storage"))
    storage_free = storage.get("free_mb")
    if storage_free is None and data_dir is not None:
        storage_free = free_mb(data_dir)
    if isinstance(storage_free, float):
        storage_free = int(storage_free)
    temp = snapshot.get("cpu_temp_c", cpu_temp_c())
    return {
        "schema": STATUS_SCHEMA,
        "station": station,
        "district": district,
        "ts": iso_utc(now),
        "version": str(snapshot.get("version", "")),
        "uptime_s": int(snapshot.get("uptime_s") or 0),
        "power": {k: power.get(k) for k in _POWER_KEYS},
        "queue": {k: queue.get(k, 0 if k != "oldest_pending_age_s" else None) for k in _QUEUE_KEYS},
        "session": _session(snapshot.get("session")),
        "devices": {name: device_health(devices.get(name)) for name in DEVICE_NAMES},
        "storage": {"free_mb": storage_free},
        "cpu_temp_c": temp,
        "locked": bool(snapshot.get("locked", False)),
    }


def battery_step(percent: Any) -> int | None:
    return None if percent is None else int(float(percent) // BATTERY_STEP_PERCENT)


def significant_change(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """Why ``new`` must be sent before the periodic tick, or ``None``. Timestamps and uptime never count."""
    if old is None:
        return "first"
    if old["power"]["on_mains"] != new["power"]["on_mains"]:
        return "power_source"
    if battery_step(old["power"]["battery_percent"]) != battery_step(new["power"]["battery_percent"]):
        return "battery_step"
    if old["queue"]["pending"] != new["queue"]["pending"] or \
            old["queue"]["acknowledged_total"] != new["queue"]["acknowledged_total"]:
        return "queue"
    if old["devices"] != new["devices"]:
        return "devices"
    if old["locked"] != new["locked"] or old["session"] != new["session"]:
        return "state"
    return None


def derive_events(old: dict[str, Any] | None, new: dict[str, Any], *, warn_percent: int,
                  disk_low_mb: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Alarm events ``(type, severity, detail)`` for thresholds crossed between two statuses (edge, not level)."""
    events: list[tuple[str, str, dict[str, Any]]] = []
    power, before = new["power"], (old or {}).get("power", {})
    pct = power.get("battery_percent")
    if pct is not None and not power.get("on_mains") and pct < warn_percent:
        was = before.get("battery_percent")
        if old is None or was is None or was >= warn_percent or before.get("on_mains"):
            detail = {"battery_percent": pct, "minutes_left": power.get("minutes_left")}
            events.append(("battery_low", "warning", detail))
    for name, health in new["devices"].items():
        if health == "fault" and (old is None or old["devices"].get(name) != "fault"):
            events.append(("device_fault", "error", {"device": name}))
    free = new["storage"].get("free_mb")
    was_free = (old or {}).get("storage", {}).get("free_mb")
    if free is not None and free < disk_low_mb and (was_free is None or was_free >= disk_low_mb):
        events.append(("disk_low", "warning", {"free_mb": free}))
    return events
