"""Shared builders for link tests (imported by the test modules; fixtures live in conftest.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from station.config import Config, config_from_dict

SNAPSHOT: dict[str, Any] = {
    "version": "0.1.0",
    "uptime_s": 12,
    "power": {"on_mains": True, "battery_percent": 81.0, "voltage_v": 8.1, "charging": True, "minutes_left": None},
    "queue": {"pending": 3, "pending_bytes": 3_000_000, "oldest_pending_age_s": 42.0, "acknowledged_total": 7},
    "session": {"id": "s-1", "kode_desa": "61.06.01.2001", "enrolled": 4},
    "devices": {"camera": {"health": "ok", "reason": ""}, "fingerprint": "ok", "signature_pad": "ok",
                "battery": {"health": "ok"}},
    "storage": {"free_mb": 20_000},
    "cpu_temp_c": 51.5,
    "locked": False,
}


def snapshot(**changes: Any) -> dict[str, Any]:
    snap = copy.deepcopy(SNAPSHOT)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(snap.get(key), dict):
            snap[key].update(value)
        else:
            snap[key] = value
    return snap


def station_config_dict(port: int, data_dir: Path, *, station: str = "kph-01", verify_key: str = "",
                        keepalive: int = 2, status_interval_s: int = 60) -> dict[str, Any]:
    return {
        "station": {"id": station, "district": "6106", "data_dir": str(data_dir)},
        "office": {"verify_key": verify_key},
        "mqtt": {"host": "127.0.0.1", "port": port, "keepalive": keepalive, "status_interval_s": status_interval_s},
    }


def station_config(port: int, data_dir: Path, **kw: Any) -> Config:
    return config_from_dict(station_config_dict(port, data_dir, **kw))
