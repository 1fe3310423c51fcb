"""The fleet as office staff see it: one row per registered station of this district, from the registry, the
latest telemetry and the open alerts (what the stations page, its cards, the live stream and the JSON show).

Only stations in the office's registry and district are rows: a status from an unknown station or from another
district is counted by the ingest but never becomes a station here. A station that never reported is "never";
one whose last state is the broker's last will is "offline" — drawn calm unless a session is open there.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from office import db
from office import telemetry_db as tdb
from office.db import as_utc, metadata, utc_now
from station.wilayah_names import region_name as _region_name

region_name = functools.lru_cache(maxsize=8192)(_region_name)
"""Names by code, cached: the list asks for the same few desa and kecamatan on every row."""

station_profile = sa.Table(
    "station_profile",
    metadata,
    sa.Column("station", sa.String(64), primary_key=True),
    sa.Column("label", sa.String(120), nullable=False, default=""),
    sa.Column("simulated", sa.Boolean, nullable=False, default=False),
)


class StationState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    NEVER = "never"


@dataclass(frozen=True)
class SessionView:
    id: str | None
    desa: str | None
    desa_name: str | None
    kecamatan: str | None
    kecamatan_name: str | None
    enrolled: int


@dataclass
class StationRow:
    id: str
    label: str
    simulated: bool
    state: StationState
    state_changed_at: datetime | None
    last_seen_at: datetime | None
    status_ts: str | None
    version: str | None = None
    battery_percent: float | None = None
    on_mains: bool | None = None
    charging: bool | None = None
    minutes_left: float | None = None
    queue_pending: int | None = None
    queue_pending_bytes: int | None = None
    oldest_pending_age_s: float | None = None
    devices: dict[str, str] = field(default_factory=dict)
    storage_free_mb: int | None = None
    session: SessionView | None = None
    locked: bool = False
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def urgent(self) -> bool:
        """Needs a person now: offline with a session open, or an unacknowledged alert."""
        return (self.state is StationState.OFFLINE and self.session is not None) or any(
            not a["acknowledged"] for a in self.alerts)

    @property
    def kecamatan(self) -> str | None:
        return self.session.kecamatan if self.session else None

    def to_json(self) -> dict[str, Any]:
        """The JSON row (docs/office-dashboard.md); built by hand, as ``asdict`` is slow for 500 rows."""
        s = self.session
        return {
            "id": self.id, "label": self.label, "simulated": self.simulated, "state": self.state.value,
            "state_changed_at": _iso(self.state_changed_at), "last_seen_at": _iso(self.last_seen_at),
            "status_ts": self.status_ts, "version": self.version, "battery_percent": self.battery_percent,
            "on_mains": self.on_mains, "charging": self.charging, "minutes_left": self.minutes_left,
            "queue_pending": self.queue_pending, "queue_pending_bytes": self.queue_pending_bytes,
            "oldest_pending_age_s": self.oldest_pending_age_s, "devices": dict(self.devices),
            "storage_free_mb": self.storage_free_mb,
            "session": None if s is None else {"id": s.id, "desa": s.desa, "desa_name": s.desa_name,
                                               "kecamatan": s.kecamatan, "kecamatan_name": s.kecamatan_name,
                                               "enrolled": s.enrolled},
            "locked": self.locked, "alerts": self.alerts, "urgent": self.urgent,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _parse_iso(value: str | None) -> datetime | None:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return ts if ts is not None and ts.tzinfo is not None else None


def kecamatan_of(desa: str | None) -> str | None:
    """``61.06.01.2004`` -> ``61.06.01``; anything else -> None."""
    if not isinstance(desa, str):
        return None
    parts = desa.split(".")
    return ".".join(parts[:3]) if len(parts) == 4 else None


def _session(raw: Any) -> SessionView | None:
    if not isinstance(raw, dict):
        return None
    desa = raw.get("desa") if isinstance(raw.get("desa"), str) else None
    kec = kecamatan_of(desa)
    enrolled = raw.get("enrolled")
    return SessionView(id=str(raw.get("id")) if raw.get("id") is not None else None, desa=desa,
                       desa_name=region_name(desa) if desa else None, kecamatan=kec,
                       kecamatan_name=region_name(kec) if kec else None,
                       enrolled=enrolled if isinstance(enrolled, int) and not isinstance(enrolled, bool) else 0)


def _num(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _fill_status(row: StationRow, status: dict[str, Any]) -> None:
    """Copy what the status says, defensively: a field of the wrong type shows as unknown, never as an error."""
    power = status.get("power") if isinstance(status.get("power"), dict) else {}
    queue = status.get("queue") if isinstance(status.get("queue"), dict) else {}
    devices = status.get("devices") if isinstance(status.get("devices"), dict) else {}
    storage = status.get("storage") if isinstance(status.get("storage"), dict) else {}
    row.version = str(status.get("version") or "") or None
    row.battery_percent = _num(power.get("battery_percent"))
    row.on_mains, row.charging = _bool(power.get("on_mains")), _bool(power.get("charging"))
    row.minutes_left = _num(power.get("minutes_left"))
    row.queue_pending, row.queue_pending_bytes = _num(queue.get("pending")), _num(queue.get("pending_bytes"))
    row.oldest_pending_age_s = _num(queue.get("oldest_pending_age_s"))
    row.devices = {str(k): v for k, v in devices.items() if v in ("ok", "absent", "fault")}
    free = _num(storage.get("free_mb"))
    row.storage_free_mb = int(free) if free is not None else None
    row.session = _session(status.get("session"))
    row.locked = status.get("locked") is True


_STATUS_FIELDS = ("version", "battery_percent", "on_mains", "charging", "minutes_left", "queue_pending",
                  "queue_pending_bytes", "oldest_pending_age_s", "devices", "storage_free_mb", "session", "locked")
_parsed: OrderedDict[tuple[str, str | None, int], dict[str, Any]] = OrderedDict()
"""What each station's latest status says, parsed once per status (a list of 500 must not parse 500 JSONs)."""
_parsed_lock = threading.Lock()


def _status_fields(key: tuple[str, str | None, int], status_json: str) -> dict[str, Any]:
    with _parsed_lock:
        hit = _parsed.get(key)
    if hit is not None:
        return hit
    row = StationRow(key[0], "", False, StationState.NEVER, None, None, None)
    try:
        status = json.loads(status_json)
    except ValueError:
        status = None
    if isinstance(status, dict):
        _fill_status(row, status)
    fields = {name: getattr(row, name) for name in _STATUS_FIELDS}
    with _parsed_lock:
        _parsed[key] = fields
        while len(_parsed) > 20000:
            _parsed.popitem(last=False)
    return fields


def fleet_rows(engine: sa.Engine, district: str, *, only: set[str] | None = None) -> list[StationRow]:
    """Every active registered station of ``district`` (or just ``only``), sorted by id."""
    from office.alerts import open_alerts_by_station

    s, t, p = db.stations, tdb.station_status, station_profile
    query = (sa.select(s.c.id, p.c.label, p.c.simulated, t.c.state, t.c.state_changed_at, t.c.received_at,
                       t.c.status_ts, sa.func.length(t.c.status_json).label("status_len"))
             .select_from(s.outerjoin(t, t.c.station == s.c.id).outerjoin(p, p.c.station == s.c.id))
             .where(s.c.district == district, s.c.active == sa.true()).order_by(s.c.id))
    if only is not None:
        query = query.where(s.c.id.in_(sorted(only)))
    with engine.connect() as conn:
        records = conn.execute(query).all()
        keys = {r.id: (r.id, r.status_ts, r.status_len) for r in records if r.status_len}
        with _parsed_lock:
            missing = [sid for sid, key in keys.items() if key not in _parsed]
        raw: dict[str, str] = {}
        for i in range(0, len(missing), 500):
            raw.update(conn.execute(sa.select(t.c.station, t.c.status_json)
                                    .where(t.c.station.in_(missing[i:i + 500]))).all())
    alerts = open_alerts_by_station(engine, only=only)
    rows = []
    for r in records:
        state = StationState(r.state) if r.state in ("online", "offline") else StationState.NEVER
        row = StationRow(id=r.id, label=r.label or "", simulated=bool(r.simulated), state=state,
                         state_changed_at=as_utc(r.state_changed_at),
                         last_seen_at=as_utc(r.received_at) if r.state is not None else None, status_ts=r.status_ts)
        key = keys.get(r.id)
        if key is not None and (key in _parsed or r.id in raw):
            for name, value in _status_fields(key, raw.get(r.id, "")).items():
                setattr(row, name, value)
        if state is StationState.OFFLINE and row.last_seen_at is not None:
            # the will arrives a keep-alive after the station went quiet: its last status says when it was seen
            reported = _parse_iso(r.status_ts)
            if reported is not None and reported < row.last_seen_at:
                row.last_seen_at = reported
        row.alerts = alerts.get(r.id, [])
        rows.append(row)
    return rows


def get_row(engine: sa.Engine, district: str, station: str) -> StationRow | None:
    rows = fleet_rows(engine, district, only={station})
    return rows[0] if rows else None


SORTS = ("id", "state", "battery", "pending", "last_seen", "kecamatan")
STATE_ORDER = {StationState.ONLINE: 0, StationState.OFFLINE: 1, StationState.NEVER: 2}


def sort_rows(rows: list[StationRow], key: str) -> list[StationRow]:
    """Sorted for the list; urgent stations first whatever the key, so what needs a person is on top."""
    keys = {
        "id": lambda r: r.id,
        "state": lambda r: (STATE_ORDER[r.state], r.id),
        "battery": lambda r: (r.battery_percent if r.battery_percent is not None else 999, r.id),
        "pending": lambda r: (-(r.queue_pending or 0), r.id),
        "last_seen": lambda r: (-(r.last_seen_at.timestamp() if r.last_seen_at else 0), r.id),
        "kecamatan": lambda r: (r.session.kecamatan_name or "~" if r.session else "~", r.id),
    }
    fn = keys.get(key, keys["id"])
    return sorted(rows, key=lambda r: (not r.urgent, fn(r)))


def filter_rows(rows: list[StationRow], *, state: str = "", kecamatan: str = "") -> list[StationRow]:
    return [r for r in rows if (not state or r.state.value == state) and (not kecamatan or r.kecamatan == kecamatan)]


def matches(row: StationRow, *, state: str = "", kecamatan: str = "") -> bool:
    return bool(filter_rows([row], state=state, kecamatan=kecamatan))


@functools.lru_cache(maxsize=8)
def kecamatan_choices(district: str) -> tuple[tuple[str, str], ...]:
    """Every kecamatan of the district from the shipped kode wilayah list: (code, name), by name."""
    from station.wilayah_names import iter_shipped_rows

    prefix = f"{district[:2]}.{district[2:]}."
    return tuple(sorted(((k, n) for k, n in iter_shipped_rows() if k.startswith(prefix) and k.count(".") == 2),
                        key=lambda kv: kv[1]))


def set_profile(engine: sa.Engine, station: str, *, label: str = "", simulated: bool = False) -> None:
    """A human label for a station and whether it is a simulated one (the demo's)."""
    with engine.begin() as conn:
        done = conn.execute(station_profile.update().where(station_profile.c.station == station)
                            .values(label=label, simulated=simulated)).rowcount
        if not done:
            conn.execute(station_profile.insert().values(station=station, label=label, simulated=simulated))


def now() -> datetime:
    return utc_now()
