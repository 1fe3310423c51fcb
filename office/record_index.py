"""The received records the dashboard counts: one row per stored packet, read from its manifest.

The receiver verifies a packet without opening it; this index opens ``manifest.json.age`` with the *records*
identity (the only one the online office has, DESIGN §5) and keeps the demographic and capture metadata the
coverage, planner, duplicates and records pages need. No biometric part is ever opened here. Packets are indexed
by a background indexer woken when one is stored (and swept at start, so nothing received while it was down is
missed); a packet whose manifest cannot be read keeps a row with status ``unreadable`` and the reason.

Statuses: ``received`` (stored, manifest not read yet: a packet with no row here), ``verified`` (manifest opened
and consistent with the signed envelope), ``exported`` (written out for the central system), ``unreadable``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from office import db, desa_stats
from office.db import metadata
from office.duplicates import raise_duplicate
from station import keys as station_keys
from station.packets import MANIFEST_PART, PacketError, open_manifest

log = logging.getLogger(__name__)

WIB = timedelta(hours=7)
"""Days are counted in the office's local time (Kalimantan Barat is WIB, UTC+7) unless configured otherwise."""

records = sa.Table(
    "records", metadata,
    sa.Column("packet_id", sa.String(36), sa.ForeignKey("packets.packet_id"), primary_key=True),
    sa.Column("station_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(12), nullable=False, index=True),
    sa.Column("nik", sa.String(16), index=True),
    sa.Column("nama", sa.Text),
    sa.Column("kode_desa", sa.String(13), index=True),
    sa.Column("kecamatan", sa.String(8), index=True),
    sa.Column("session_id", sa.String(64), index=True),
    sa.Column("session_desa", sa.String(13)),
    sa.Column("operator", sa.String(64), index=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True)),
    sa.Column("day", sa.String(10), index=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("force_captured", sa.Integer, nullable=False, default=0),
    sa.Column("exceptions", sa.Integer, nullable=False, default=0),
    sa.Column("exception_reasons", sa.Text, nullable=False, default=""),
    sa.Column("software_version", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("exported_at", sa.DateTime(timezone=True)),
    sa.Column("duplicate_of", sa.String(36), index=True),
    sa.Index("ix_records_status_nik", "status", "nik"),
    sa.Index("ix_records_desa_day", "kode_desa", "day"),
)

COUNTED = ("verified", "exported")
"""Statuses whose NIKs count as recorded."""


def local_day(moment: datetime, offset: timedelta = WIB) -> str:
    return (moment.astimezone(UTC) + offset).date().isoformat()


def summarise_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The columns of a records row from a manifest; tolerant of fields a station did not fill."""
    resident = manifest.get("resident") if isinstance(manifest.get("resident"), dict) else {}
    session = manifest.get("session") if isinstance(manifest.get("session"), dict) else {}
    operator = manifest.get("operator") if isinstance(manifest.get("operator"), dict) else {}
    captures = manifest.get("captures") if isinstance(manifest.get("captures"), dict) else {}
    fingers = captures.get("fingers") if isinstance(captures.get("fingers"), dict) else {}
    forced = sum(1 for f in fingers.values() if isinstance(f, dict) and f.get("force_captured"))
    reasons = []
    for code, finger in sorted(fingers.items()):
        exception = finger.get("exception") if isinstance(finger, dict) else None
        if isinstance(exception, dict):
            reasons.append(f"{code}:{exception.get('reason', '?')}")
    kode_desa = str(resident.get("kode_desa") or session.get("kode_desa") or "") or None
    finished = _parse_time(manifest.get("finished"))
    return {
        "nik": str(resident.get("nik") or "") or None,
        "nama": str(resident.get("nama") or "") or None,
        "kode_desa": kode_desa,
        "kecamatan": kode_desa[:8] if kode_desa else None,
        "session_id": str(session.get("id") or "") or None,
        "session_desa": str(session.get("kode_desa") or "") or None,
        "operator": str(operator.get("username") or "") or None,
        "recorded_at": finished,
        "force_captured": forced,
        "exceptions": len(reasons),
        "exception_reasons": " ".join(reasons),
        "software_version": str(manifest.get("software_version") or "")[:64] or None,
    }


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def index_packet(engine: sa.Engine, identity: str, packet: db.StoredPacket, *,
                 day_offset: timedelta = WIB) -> str:
    """Read one stored packet's manifest and write its records row; returns the status written."""
    row: dict[str, Any] = {"packet_id": packet.packet_id, "station_id": packet.station_id,
                           "received_at": packet.received_at}
    try:
        station_key = _station_key(engine, packet.station_id)
        envelope, manifest = open_manifest(Path(packet.path).read_bytes(), identity, station_key)
        sealed = {p.name.removesuffix(".age") for p in envelope.parts if p.name != MANIFEST_PART}
        if sealed != set(manifest["files"]):
            raise PacketError("manifest files differ from the sealed parts of the envelope")
        row |= summarise_manifest(manifest) | {"status": "verified"}
    except (OSError, PacketError, station_keys.KeyMaterialError) as exc:
        row |= {"status": "unreadable", "error": str(exc)[:500]}
    moment = row.get("recorded_at") or packet.received_at
    row["day"] = local_day(moment, day_offset)
    try:
        return _store_row(engine, packet, row)
    except sa.exc.IntegrityError:
        return "indexed"  # another indexer (the CLI's reindex, the server's thread) got here first


def _store_row(engine: sa.Engine, packet: db.StoredPacket, row: dict[str, Any]) -> str:
    with engine.begin() as conn:
        if conn.execute(sa.select(records.c.packet_id).where(records.c.packet_id == packet.packet_id)).scalar():
            return "indexed"
        earlier = None
        if row["status"] == "verified" and row.get("nik"):
            earlier = conn.execute(sa.select(records.c.packet_id).where(
                records.c.nik == row["nik"], records.c.status.in_(COUNTED))
                .order_by(records.c.received_at).limit(1)).scalar()
            row["duplicate_of"] = earlier
        conn.execute(records.insert().values(**row))
        if row["status"] == "verified":
            desa_stats.count_record(conn, row, first_of_nik=earlier is None)
        if earlier is not None:
            raise_duplicate(conn, station=packet.station_id, nik=row["nik"], packet_id=packet.packet_id,
                            earlier=earlier, at=db.utc_now())
    if row["status"] == "unreadable":
        log.warning("packet %s from %s: manifest unreadable: %s", packet.packet_id, packet.station_id, row["error"])
    return str(row["status"])


def _station_key(engine: sa.Engine, station_id: str) -> Any:
    with engine.connect() as conn:
        b64 = conn.execute(sa.select(db.stations.c.public_key_b64).where(db.stations.c.id == station_id)).scalar()
    if b64 is None:
        raise PacketError(f"station {station_id} is not registered")
    return station_keys.load_verify_key(b64)


def unindexed(engine: sa.Engine, limit: int = 500) -> list[db.StoredPacket]:
    """Stored packets with no records row yet, oldest first."""
    query = (sa.select(db.packets).outerjoin(records, records.c.packet_id == db.packets.c.packet_id)
             .where(records.c.packet_id.is_(None)).order_by(db.packets.c.received_at).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [db.StoredPacket(packet_id=r["packet_id"], station_id=r["station_id"], sha256=r["sha256"],
                            size_bytes=r["size_bytes"], path=r["path"], received_at=db.as_utc(r["received_at"]),
                            receipt={}) for r in rows]


def index_pending(engine: sa.Engine, identity: str, *, limit: int = 500, day_offset: timedelta = WIB) -> int:
    """Index up to ``limit`` unindexed packets; returns how many."""
    pending = unindexed(engine, limit)
    for packet in pending:
        index_packet(engine, identity, packet, day_offset=day_offset)
    return len(pending)


class RecordIndexer:
    """Indexes new packets in a thread: ``wake(packet)`` after a packet is stored, ``stop()`` at shutdown.

    A stored packet is indexed from the queue ``wake`` fills, so an idle office runs no query at all; a full sweep
    (every stored packet without a row) runs at start and every ``sweep_s``, for packets stored while the
    indexer was down or by another process.
    """

    def __init__(self, engine: sa.Engine, identity: str, *, day_offset: timedelta = WIB,
                 idle_s: float = 1.0, sweep_s: float = 600.0, stop_event: threading.Event | None = None) -> None:
        self.engine, self.identity, self.day_offset = engine, identity, day_offset
        self.idle_s, self.sweep_s = idle_s, sweep_s
        self._wake = threading.Event()
        self._stop = stop_event or threading.Event()
        self._queue: deque[db.StoredPacket] = deque()
        self._thread: threading.Thread | None = None
        self.listeners: list[Any] = []
        """Callables ``(count)`` run after a round that indexed something (the dashboard's live refresh)."""

    def start(self) -> RecordIndexer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="office-record-index", daemon=True)
            self._thread.start()
        return self

    def wake(self, packet: db.StoredPacket | None = None) -> None:
        if packet is not None:
            self._queue.append(packet)
        self._wake.set()

    def _round(self, sweep: bool) -> int:
        if sweep:
            total = 0
            while not self._stop.is_set() and (done := index_pending(self.engine, self.identity,
                                                                     day_offset=self.day_offset)):
                total += done
            return total
        done = 0
        while self._queue and not self._stop.is_set():
            index_packet(self.engine, self.identity, self._queue.popleft(), day_offset=self.day_offset)
            done += 1
        return done

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            sweep = time.monotonic() >= next_sweep
            try:
                done = self._round(sweep)
                if sweep:
                    next_sweep = time.monotonic() + self.sweep_s
            except sa.exc.SQLAlchemyError as exc:  # database away: a sweep on the next round catches up
                log.warning("record index: %s", exc)
                done, next_sweep = 0, time.monotonic() + self.idle_s
            if done:
                for listener in list(self.listeners):
                    try:
                        listener(done)
                    except Exception:  # noqa: BLE001 - a listener's bug must not stop indexing
                        log.exception("record index listener failed")
            if not self._queue:
                self._wake.wait(self.idle_s)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
