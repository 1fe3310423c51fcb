"""Office tables for station telemetry (MQTT ingest), on the office's shared SQLAlchemy ``metadata``.

Latest status per station (what the dashboard shows), a bounded per-station history of battery and queue (charts),
events, online/offline transitions with their times, and command replies. History is pruned per station so a
district with fifty stations reporting every minute for a year still fits a small disk.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

try:  # B's office/db.py owns the shared metadata; fall back to our own while it does not exist
    from office.db import metadata
except ImportError:  # pragma: no cover - only before office/db.py exists
    metadata = sa.MetaData()

HISTORY_ROWS_PER_STATION = 8 * 1440
"""Eight days at one status a minute: the dashboard's 7-day battery chart."""

station_status = sa.Table(
    "telemetry_station",
    metadata,
    sa.Column("station", sa.String(64), primary_key=True),
    sa.Column("district", sa.String(4), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="unknown"),
    sa.Column("state_changed_at", sa.DateTime(timezone=True)),
    sa.Column("status_ts", sa.String(40)),
    sa.Column("status_json", sa.Text),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

status_history = sa.Table(
    "telemetry_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station", sa.String(64), nullable=False, index=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("battery_percent", sa.Float),
    sa.Column("on_mains", sa.Boolean),
    sa.Column("queue_pending", sa.Integer),
    sa.Column("queue_pending_bytes", sa.Integer),
)

station_events = sa.Table(
    "telemetry_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station", sa.String(64), nullable=False, index=True),
    sa.Column("district", sa.String(4), nullable=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("detail_json", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

state_transitions = sa.Table(
    "telemetry_transition",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station", sa.String(64), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

command_replies = sa.Table(
    "telemetry_reply",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station", sa.String(64), nullable=False, index=True),
    sa.Column("command_id", sa.String(64), nullable=False, index=True),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("reply_json", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

TABLES = (station_status, status_history, station_events, state_transitions, command_replies)


def create_telemetry_tables(engine: sa.Engine) -> None:
    metadata.create_all(engine, tables=list(TABLES))


def prune_history(conn: sa.Connection, station: str, keep: int = HISTORY_ROWS_PER_STATION) -> int:
    """Delete all but the newest ``keep`` history rows of one station; returns rows deleted."""
    cutoff = conn.execute(
        sa.select(status_history.c.id).where(status_history.c.station == station)
        .order_by(status_history.c.id.desc()).offset(keep).limit(1)
    ).scalar()
    if cutoff is None:
        return 0
    result = conn.execute(
        sa.delete(status_history).where(status_history.c.station == station, status_history.c.id <= cutoff)
    )
    return result.rowcount or 0


class TelemetryWriter:
    """Writes batches of validated messages in one transaction with bulk statements.

    Keeps each station's state and newest status time in memory (loaded once from the table), so a message costs
    no read; within a batch the latest-status row is updated once per station, history/events are bulk inserts.
    The cache is dropped whenever a transaction fails, so it never drifts from the database.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._known: dict[str, dict[str, Any]] | None = None
        self._history_writes: dict[str, int] = {}

    def write(self, batch: list[Any]) -> None:
        """``batch``: messages with ``kind`` (state/status/event/reply), ``district``, ``station``, ``body``,
        ``received_at``, in arrival order."""
        try:
            with self.engine.begin() as conn:
                self._write(conn, batch)
        except Exception:
            self._known = None
            raise

    def _write(self, conn: sa.Connection, batch: list[Any]) -> None:
        if self._known is None:
            self._known = {r.station: {"state": r.state, "status_ts": r.status_ts} for r in conn.execute(
                sa.select(station_status.c.station, station_status.c.state, station_status.c.status_ts))}
        known = self._known
        rows: dict[str, list[dict[str, Any]]] = {"new": [], "transitions": [], "history": [], "events": [],
                                                 "replies": []}
        updates: dict[str, dict[str, Any]] = {}
        for m in batch:
            k = known.get(m.station)
            if k is None:
                k = known[m.station] = {"state": "unknown", "status_ts": None}
                rows["new"].append({"station": m.station, "district": m.district, "state": "unknown",
                                    "received_at": m.received_at})
            getattr(self, "_add_" + m.kind)(m, k, rows, updates.setdefault(m.station, {}))
        targets = (("new", station_status), ("transitions", state_transitions), ("history", status_history),
                   ("events", station_events), ("replies", command_replies))
        for key, table in targets[:1]:
            if rows[key]:
                conn.execute(sa.insert(table), rows[key])
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for station, values in updates.items():
            if values:
                by_shape.setdefault(tuple(sorted(values)), []).append({"b_station": station, **values})
        for shape, params in by_shape.items():   # one executemany per set of columns, not one UPDATE per station
            stmt = sa.update(station_status).where(station_status.c.station == sa.bindparam("b_station"))
            conn.execute(stmt.values({c: sa.bindparam(c) for c in shape}), params)
        for key, table in targets[1:]:
            if rows[key]:
                conn.execute(sa.insert(table), rows[key])
        for station in {r["station"] for r in rows["history"]}:
            if self._history_writes.get(station, 0) >= 100:
                self._history_writes[station] = 0
                prune_history(conn, station)

    @staticmethod
    def _add_state(m: Any, k: dict[str, Any], rows: dict[str, list], update: dict[str, Any]) -> None:
        if k["state"] == m.body:
            return
        k["state"] = m.body
        rows["transitions"].append({"station": m.station, "state": m.body, "at": m.received_at})
        update.update(state=m.body, state_changed_at=m.received_at, received_at=m.received_at)

    def _add_status(self, m: Any, k: dict[str, Any], rows: dict[str, list], update: dict[str, Any]) -> None:
        ts = m.body["ts"]
        if k["status_ts"] is not None and ts <= k["status_ts"]:
            return    # a retained copy we already have, or an older one arriving late
        k["status_ts"] = ts
        power, queue = m.body["power"], m.body["queue"]
        rows["history"].append({
            "station": m.station, "ts": ts, "battery_percent": _num(power.get("battery_percent")),
            "on_mains": power.get("on_mains") if isinstance(power.get("on_mains"), bool) else None,
            "queue_pending": _num(queue.get("pending"), int), "queue_pending_bytes": _num(queue.get("pending_bytes"),
                                                                                           int)})
        self._history_writes[m.station] = self._history_writes.get(m.station, 0) + 1
        update.update(district=m.district, status_ts=ts, status_json=m.raw or json.dumps(m.body),
                      received_at=m.received_at)

    @staticmethod
    def _add_event(m: Any, _k: dict[str, Any], rows: dict[str, list], _update: dict[str, Any]) -> None:
        b = m.body
        rows["events"].append({"station": m.station, "district": m.district, "ts": b["ts"][:40],
                               "type": b["type"][:64], "severity": b["severity"][:16],
                               "detail_json": json.dumps(b["detail"]), "received_at": m.received_at})

    @staticmethod
    def _add_reply(m: Any, _k: dict[str, Any], rows: dict[str, list], _update: dict[str, Any]) -> None:
        rows["replies"].append({"station": m.station, "command_id": m.body["id"][:64], "ok": m.body["ok"],
                                "reply_json": json.dumps(m.body), "received_at": m.received_at})


def _num(value: Any, kind: type = float) -> Any:
    return kind(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
