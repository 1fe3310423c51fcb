"""Office tables for station telemetry (MQTT ingest), on the office's shared SQLAlchemy ``metadata``.

Latest status per station (what the dashboard shows), a bounded per-station history of battery and queue (charts),
events, online/offline transitions with their times, and command replies. History is pruned per station so a
district with fifty stations reporting every minute for a year still fits a small disk.
"""

from __future__ import annotations

import sqlalchemy as sa

try:  # B's office/db.py owns the shared metadata; fall back to our own while it does not exist
    from office.db import metadata
except ImportError:  # pragma: no cover - only before office/db.py exists
    metadata = sa.MetaData()

HISTORY_ROWS_PER_STATION = 2880
"""Two days at one status a minute."""

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
