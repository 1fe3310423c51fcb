"""One station's history for its page: the battery series, the event timeline and the records received per day.

The timeline merges what the office knows from every source — events the station published (device faults,
power, ...), online/offline changes, uploads received (grouped per hour so a busy day stays readable), packets
refused (quarantine) and commands sent from the dashboard — newest first.
"""

from __future__ import annotations

import json
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from office import db
from office import telemetry_db as tdb
from office.db import as_utc, utc_now

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
MAX_POINTS = 1200


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str
    """event | state | upload | rejected | command"""
    title: str
    severity: str = "info"
    detail: dict[str, Any] = field(default_factory=dict)


def battery_series(engine: sa.Engine, station: str, range_key: str, *, now: datetime | None = None
                   ) -> dict[str, list[Any]]:
    """``{t: [unix s], battery_percent: [...], on_mains: [0/1/None]}`` over the range, at most ``MAX_POINTS``
    points (averaged into equal buckets when there are more)."""
    span = RANGES.get(range_key, RANGES["24h"])
    now = now or utc_now()
    since = (now - span).isoformat(timespec="seconds").replace("+00:00", "Z")
    h = tdb.status_history
    with engine.connect() as conn:
        rows = conn.execute(sa.select(h.c.ts, h.c.battery_percent, h.c.on_mains)
                            .where(h.c.station == station, h.c.ts >= since).order_by(h.c.ts)).all()
    points = []
    for r in rows:
        try:
            t = datetime.fromisoformat(r.ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        points.append((t, r.battery_percent, None if r.on_mains is None else int(bool(r.on_mains))))
    if len(points) > MAX_POINTS:
        start, width = (now - span).timestamp(), span.total_seconds() / MAX_POINTS
        buckets: dict[int, list[tuple[float, Any, Any]]] = {}
        for p in points:
            buckets.setdefault(int((p[0] - start) // width), []).append(p)
        points = []
        for _k, items in sorted(buckets.items()):
            pcts = [p[1] for p in items if p[1] is not None]
            mains = [p[2] for p in items if p[2] is not None]
            points.append((items[-1][0], round(sum(pcts) / len(pcts), 1) if pcts else None,
                           min(mains) if mains else None))
    return {"t": [p[0] for p in points], "battery_percent": [p[1] for p in points],
            "on_mains": [p[2] for p in points]}


def records_per_day(engine: sa.Engine, station: str, timezone: str, days: int = 14, *,
                    now: datetime | None = None) -> list[tuple[date, int]]:
    """Records (verified packets) received per local day, the last ``days`` days, oldest first, zeros included."""
    tz = zoneinfo.ZoneInfo(timezone)
    now = now or utc_now()
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tz)
    p = db.packets
    with engine.connect() as conn:
        times = conn.execute(sa.select(p.c.received_at).where(p.c.station_id == station,
                                                              p.c.received_at >= since)).scalars().all()
    counts = Counter(as_utc(t).astimezone(tz).date() for t in times)
    return [(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)]


def _ts(value: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def timeline(engine: sa.Engine, station: str, commands: list[Any], *, limit: int = 60) -> list[TimelineItem]:
    e, t, p, q = tdb.station_events, tdb.state_transitions, db.packets, db.quarantine
    items: list[TimelineItem] = []
    with engine.connect() as conn:
        for r in conn.execute(sa.select(e).where(e.c.station == station).order_by(e.c.id.desc()).limit(limit)):
            try:
                detail = json.loads(r.detail_json)
            except ValueError:
                detail = {}
            items.append(TimelineItem(as_utc(r.received_at), "event", r.type, r.severity,
                                      detail if isinstance(detail, dict) else {}))
        for r in conn.execute(sa.select(t).where(t.c.station == station).order_by(t.c.id.desc()).limit(limit)):
            items.append(TimelineItem(as_utc(r.at), "state", r.state, "info"))
        for r in conn.execute(sa.select(q).where(q.c.station_id == station).order_by(q.c.id.desc()).limit(limit)):
            items.append(TimelineItem(as_utc(r.at), "rejected", r.packet_id or "", "bad", {"reason": r.reason}))
        received = conn.execute(sa.select(p.c.received_at).where(p.c.station_id == station)
                                .order_by(p.c.received_at.desc()).limit(2000)).scalars().all()
        h = tdb.status_history
        power = conn.execute(sa.select(h.c.ts, h.c.on_mains).where(h.c.station == station, h.c.on_mains.is_not(None))
                             .order_by(h.c.id.desc()).limit(2880)).all()
    for newer, older in zip(power, power[1:], strict=False):   # newest first: a change between two statuses
        if bool(newer.on_mains) != bool(older.on_mains) and (at := _ts(newer.ts)) is not None:
            items.append(TimelineItem(at, "event", "mains_restored" if newer.on_mains else "mains_lost",
                                      "info" if newer.on_mains else "warning"))
    hours = Counter(as_utc(x).replace(minute=0, second=0, microsecond=0) for x in received)
    for hour, count in hours.items():
        items.append(TimelineItem(hour + timedelta(minutes=59, seconds=59), "upload", "", "ok", {"count": count}))
    for c in commands:
        items.append(TimelineItem(c.sent_at, "command", c.name, "info", {"state": c.state.value, "by": c.sent_by,
                                                                          "args": c.args}))
    items.sort(key=lambda i: i.at, reverse=True)
    return items[:limit]
