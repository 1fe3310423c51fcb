"""Alert rules over station telemetry: raised and cleared with times, acknowledged by an admin, never flapping.

Status rules (battery, pending age, device fault, storage, clock skew) are judged on every new status: a condition
must hold for ``[alerts] consecutive`` statuses in a row to raise the alert and be absent as many times to clear it.
Time rules are judged by a clock every ``check_interval_s``: *offline* (a station with an open session has been
offline ``offline_after_s``; clears when it is back online), *stuck* (online, but no message for ``stuck_after_s``;
clears with the next status) and *packet rejected* (a packet of the station went to quarantine; clears when a
``requeue`` command to the station is answered). Thresholds live in the office config (docs/configuration.md).

An acknowledgement records who and when; the alert stays listed until its condition clears.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from office import db
from office import telemetry_db as tdb
from office.audit import append_office_audit
from office.config import OfficeConfig
from office.db import as_utc, metadata, utc_now

log = logging.getLogger(__name__)

alerts_table = sa.Table(
    "office_alert",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station", sa.String(64), nullable=False, index=True),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cleared_at", sa.DateTime(timezone=True), index=True),
    sa.Column("acked_by", sa.String(32)),
    sa.Column("acked_at", sa.DateTime(timezone=True)),
    sa.Column("detail_json", sa.Text, nullable=False, default="{}"),
)


class Rule(StrEnum):
    BATTERY_LOW = "battery_low"
    OFFLINE = "offline_session"
    STUCK = "stuck"
    PENDING_OLD = "pending_old"
    DEVICE_FAULT = "device_fault"
    STORAGE_LOW = "storage_low"
    CLOCK_SKEW = "clock_skew"
    PACKET_REJECTED = "packet_rejected"
    DUPLICATE_NIK = "duplicate_nik"
    """A NIK received more than once (raised by the records index, office.duplicates)."""


SEVERITY = {Rule.BATTERY_LOW: "bad", Rule.OFFLINE: "bad", Rule.DEVICE_FAULT: "bad", Rule.PACKET_REJECTED: "bad",
            Rule.STUCK: "warn", Rule.PENDING_OLD: "warn", Rule.STORAGE_LOW: "warn", Rule.CLOCK_SKEW: "warn"}
SEVERITY[Rule.DUPLICATE_NIK] = "bad"
STATUS_RULES = (Rule.BATTERY_LOW, Rule.PENDING_OLD, Rule.DEVICE_FAULT, Rule.STORAGE_LOW, Rule.CLOCK_SKEW)


@dataclass(frozen=True)
class Alert:
    id: int
    station: str
    rule: Rule
    severity: str
    raised_at: datetime
    cleared_at: datetime | None
    acked_by: str | None
    acked_at: datetime | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        iso = _iso
        return {"id": self.id, "station": self.station, "rule": self.rule.value, "severity": self.severity,
                "raised_at": iso(self.raised_at), "cleared_at": iso(self.cleared_at), "acked_by": self.acked_by,
                "acked_at": iso(self.acked_at), "acknowledged": self.acked_at is not None, "detail": self.detail}


class AlertError(ValueError):
    pass


def create_alert_tables(engine: sa.Engine) -> None:
    """Every dashboard table (telemetry, alerts, commands, users, audit, station profiles) on ``engine``."""
    from office import audit, commands, fleet, users  # noqa: F401 - their tables join the shared metadata

    tdb.create_telemetry_tables(engine)
    metadata.create_all(engine)


def _alert(r: Any) -> Alert:
    return Alert(r.id, r.station, Rule(r.rule), r.severity, as_utc(r.raised_at), as_utc(r.cleared_at), r.acked_by,
                 as_utc(r.acked_at), json.loads(r.detail_json or "{}"))


def list_alerts(engine: sa.Engine, *, station: str | None = None, open_only: bool = True,
                limit: int = 500) -> list[Alert]:
    """Open alerts (newest first); with ``open_only=False`` also the cleared ones."""
    q = sa.select(alerts_table).order_by(alerts_table.c.raised_at.desc()).limit(limit)
    if open_only:
        q = q.where(alerts_table.c.cleared_at.is_(None))
    if station is not None:
        q = q.where(alerts_table.c.station == station)
    with engine.connect() as conn:
        return [_alert(r) for r in conn.execute(q)]


def open_alerts_by_station(engine: sa.Engine, *, only: set[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    q = sa.select(alerts_table).where(alerts_table.c.cleared_at.is_(None))
    if only is not None:
        q = q.where(alerts_table.c.station.in_(sorted(only)))
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for r in conn.execute(q.order_by(alerts_table.c.raised_at)):
            out.setdefault(r.station, []).append(_alert(r).to_json())
    return out


def acknowledge(engine: sa.Engine, alert_id: int, username: str) -> Alert:
    """Mark an open alert as seen by ``username`` (audited); it stays open until its condition clears."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(alerts_table).where(alerts_table.c.id == alert_id)).first()
        if row is None:
            raise AlertError(f"alert {alert_id} does not exist")
        if row.acked_at is None:
            conn.execute(alerts_table.update().where(alerts_table.c.id == alert_id)
                         .values(acked_by=username, acked_at=utc_now()))
            append_office_audit(conn, username, "alert.ack",
                                {"alert": alert_id, "station": row.station, "rule": row.rule})
        row = conn.execute(sa.select(alerts_table).where(alerts_table.c.id == alert_id)).first()
    return _alert(row)


def status_conditions(status: dict[str, Any], received_at: datetime, config: OfficeConfig,
                      *, retained: bool = False) -> dict[Rule, dict[str, Any] | None]:
    """For each status rule: a detail dict when the condition holds in this status, else None."""
    a = config.alerts
    power = status.get("power") if isinstance(status.get("power"), dict) else {}
    queue = status.get("queue") if isinstance(status.get("queue"), dict) else {}
    devices = status.get("devices") if isinstance(status.get("devices"), dict) else {}
    storage = status.get("storage") if isinstance(status.get("storage"), dict) else {}
    out: dict[Rule, dict[str, Any] | None] = dict.fromkeys(STATUS_RULES)
    pct = power.get("battery_percent")
    if isinstance(pct, int | float) and power.get("on_mains") is False and pct <= a.battery_percent:
        out[Rule.BATTERY_LOW] = {"battery_percent": pct, "minutes_left": power.get("minutes_left")}
    age = queue.get("oldest_pending_age_s")
    if isinstance(age, int | float) and age > a.pending_after_h * 3600:
        out[Rule.PENDING_OLD] = {"oldest_pending_age_s": age, "pending": queue.get("pending")}
    faults = sorted(k for k, v in devices.items() if v == "fault")
    if faults:
        out[Rule.DEVICE_FAULT] = {"devices": faults}
    free = storage.get("free_mb")
    if isinstance(free, int | float) and free < a.storage_low_mb:
        out[Rule.STORAGE_LOW] = {"free_mb": free}
    ts = _parse_ts(status.get("ts"))
    if ts is not None and not retained:
        skew = (ts - received_at).total_seconds()
        if abs(skew) > a.clock_skew_s:
            out[Rule.CLOCK_SKEW] = {"skew_s": round(skew)}
    elif ts is None:
        out[Rule.CLOCK_SKEW] = None
    return out


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else None


class AlertEngine:
    """Keeps the alert table in step with the telemetry; ``on_batch`` is an ingest listener, ``tick`` the clock."""

    def __init__(self, config: OfficeConfig, engine: sa.Engine, *,
                 on_change: Callable[[set[str]], None] | None = None) -> None:
        self.config = config
        self.engine = engine
        self.on_change = on_change or (lambda _ids: None)
        create_alert_tables(engine)
        self._lock = threading.Lock()
        self._bad: dict[tuple[str, Rule], int] = {}
        self._good: dict[tuple[str, Rule], int] = {}
        self._last_ts: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._open = self._load_open()
        self._quarantine_done: int | None = None

    def _load_open(self) -> dict[tuple[str, Rule], int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alerts_table.c.id, alerts_table.c.station, alerts_table.c.rule)
                                .where(alerts_table.c.cleared_at.is_(None))).all()
        return {(r.station, Rule(r.rule)): r.id for r in rows}

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="office-alerts", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.config.alerts.check_interval_s):
            try:
                self.tick()
            except sa.exc.SQLAlchemyError:
                log.exception("alert check failed; retried on the next tick")

    # -- status rules ----------------------------------------------------------------------------------------
    def on_batch(self, batch: Iterable[Any]) -> None:
        """Judge the new statuses of a stored ingest batch (messages with kind/station/body/received_at)."""
        changed: set[str] = set()
        for m in batch:
            if m.kind == "status" and isinstance(m.body, dict):
                ts = str(m.body.get("ts", ""))
                if ts <= self._last_ts.get(m.station, ""):
                    continue     # a retained copy or a late older status: already judged
                self._last_ts[m.station] = ts
                conditions = status_conditions(m.body, m.received_at, self.config,
                                               retained=getattr(m, "retained", False))
                for rule, detail in conditions.items():
                    if self._judge(m.station, rule, detail, m.received_at):
                        changed.add(m.station)
                if self._clear(m.station, Rule.STUCK, m.received_at):
                    changed.add(m.station)
            elif m.kind == "state" and m.body == "online" and self._clear(m.station, Rule.OFFLINE, m.received_at):
                changed.add(m.station)
            elif m.kind == "reply" and isinstance(m.body, dict) and m.body.get("ok") is True \
                    and self._is_requeue_reply(m.body.get("id")):
                if self._clear(m.station, Rule.PACKET_REJECTED, m.received_at):
                    changed.add(m.station)
        if changed:
            self.on_change(changed)

    def _is_requeue_reply(self, command_id: Any) -> bool:
        from office.commands import command_name

        return isinstance(command_id, str) and command_name(self.engine, command_id) == "requeue"

    def _judge(self, station: str, rule: Rule, detail: dict[str, Any] | None, at: datetime) -> bool:
        key, n = (station, rule), self.config.alerts.consecutive
        with self._lock:
            if detail is not None:
                self._bad[key] = self._bad.get(key, 0) + 1
                self._good[key] = 0
                if key not in self._open and self._bad[key] >= n:
                    self._raise(station, rule, detail, at)
                    return True
                if key in self._open:
                    self._update_detail(self._open[key], detail)
            else:
                self._good[key] = self._good.get(key, 0) + 1
                self._bad[key] = 0
                if key in self._open and self._good[key] >= n:
                    self._clear_locked(key, at)
                    return True
        return False

    # -- time rules ------------------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> set[str]:
        now = now or utc_now()
        a = self.config.alerts
        changed: set[str] = set()
        t = tdb.station_status
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.station, t.c.state, t.c.state_changed_at, t.c.received_at,
                                          t.c.status_json).where(t.c.station.in_(
                                              sa.select(db.stations.c.id).where(db.stations.c.active == sa.true()))
                                          )).all()
        for r in rows:
            changed_at, seen = as_utc(r.state_changed_at), as_utc(r.received_at)
            session_open = _has_session(r.status_json)
            offline_for = (now - changed_at).total_seconds() if changed_at else 0
            if r.state == "offline" and session_open and offline_for >= a.offline_after_s:
                if self._raise_once(r.station, Rule.OFFLINE, {"offline_since": _iso(changed_at)}, now):
                    changed.add(r.station)
            elif r.state == "online" and self._clear(r.station, Rule.OFFLINE, now):
                changed.add(r.station)
            quiet_s = (now - seen).total_seconds() if seen else 0
            if r.state == "online" and quiet_s >= a.stuck_after_s:
                if self._raise_once(r.station, Rule.STUCK, {"last_seen": _iso(seen)}, now):
                    changed.add(r.station)
            elif r.state == "offline" and self._clear(r.station, Rule.STUCK, now):
                changed.add(r.station)   # the will came: it is offline, not stuck
        changed |= self._check_rejections(now)
        if changed:
            self.on_change(changed)
        return changed

    def _check_rejections(self, now: datetime) -> set[str]:
        q = db.quarantine
        with self.engine.connect() as conn:
            if self._quarantine_done is None:   # once: the newest rejection an alert already covers
                details = conn.execute(sa.select(alerts_table.c.detail_json).where(
                    alerts_table.c.rule == Rule.PACKET_REJECTED.value)).scalars().all()
                self._quarantine_done = max((json.loads(d).get("last_quarantine_id", 0) for d in details),
                                            default=0)
            rows = conn.execute(sa.select(q.c.id, q.c.station_id, q.c.packet_id, q.c.reason)
                                .where(q.c.id > self._quarantine_done).order_by(q.c.id)).all()
        changed: set[str] = set()
        for r in rows:
            self._quarantine_done = max(self._quarantine_done, r.id)
            key = (r.station_id, Rule.PACKET_REJECTED)
            with self._lock:
                detail = {"packet_id": r.packet_id, "reason": r.reason[:200], "last_quarantine_id": r.id}
                if key in self._open:
                    old = self._detail(self._open[key])
                    detail["count"] = int(old.get("count", 1)) + 1
                    self._update_detail(self._open[key], detail)
                else:
                    detail["count"] = 1
                    self._raise(r.station_id, Rule.PACKET_REJECTED, detail, now)
            changed.add(r.station_id)
        return changed

    # -- table writes (callers hold no lock except where noted) ------------------------------------------------
    def _raise_once(self, station: str, rule: Rule, detail: dict[str, Any], at: datetime) -> bool:
        with self._lock:
            if (station, rule) in self._open:
                return False
            self._raise(station, rule, detail, at)
            return True

    def _clear(self, station: str, rule: Rule, at: datetime) -> bool:
        with self._lock:
            if (station, rule) not in self._open:
                return False
            self._clear_locked((station, rule), at)
            return True

    def _raise(self, station: str, rule: Rule, detail: dict[str, Any], at: datetime) -> None:
        with self.engine.begin() as conn:
            alert_id = conn.execute(alerts_table.insert().values(
                station=station, rule=rule.value, severity=SEVERITY[rule], raised_at=at,
                detail_json=json.dumps(detail, default=str))).inserted_primary_key[0]
        self._open[(station, rule)] = alert_id
        log.warning("alert raised: %s %s %s", station, rule.value, detail)

    def _clear_locked(self, key: tuple[str, Rule], at: datetime) -> None:
        alert_id = self._open.pop(key)
        with self.engine.begin() as conn:
            conn.execute(alerts_table.update().where(alerts_table.c.id == alert_id).values(cleared_at=at))
        self._bad.pop(key, None)
        self._good.pop(key, None)
        log.info("alert cleared: %s %s", key[0], key[1].value)

    def _update_detail(self, alert_id: int, detail: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(alerts_table.update().where(alerts_table.c.id == alert_id)
                         .values(detail_json=json.dumps(detail, default=str)))

    def _detail(self, alert_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            raw = conn.execute(sa.select(alerts_table.c.detail_json).where(alerts_table.c.id == alert_id)).scalar()
        return json.loads(raw or "{}")


def _has_session(status_json: str | None) -> bool:
    try:
        status = json.loads(status_json) if status_json else None
    except ValueError:
        return False
    return isinstance(status, dict) and isinstance(status.get("session"), dict)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None

