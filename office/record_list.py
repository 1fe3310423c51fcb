"""Received records as the Rekaman page, its CSV and ``/api/v1/dashboard/records`` show them: metadata only.

A packet the index has not read yet is listed as ``received``; nothing here ever touches a biometric part. The
duplicates list is every NIK with more than one counted record, each with all its records: the centre blocks the
card of a NIK recorded twice (DUPLICATE_RECORD), so the office wants to see it first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from office import db, refdata
from office.record_index import COUNTED, records

CSV_COLUMNS = ("packet_id", "status", "station", "received_at", "recorded_at", "day", "nik", "nama", "kode_desa",
               "session_id", "session_desa", "operator", "force_captured", "exceptions", "exception_reasons",
               "exported_at", "duplicate_of", "error")
STATUSES = ("received", "verified", "exported", "unreadable")


@dataclass(frozen=True)
class RecordFilter:
    station: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    desa: str | None = None
    """A desa code, or a kecamatan code (every desa in it)."""
    operator: str | None = None
    exceptions: bool = False
    force_captured: bool = False
    status: str | None = None


def _query(f: RecordFilter) -> sa.Select:
    p, r = db.packets, records
    status = sa.func.coalesce(r.c.status, "received")
    query = (sa.select(p.c.packet_id, status.label("status"), p.c.station_id.label("station"), p.c.received_at,
                       r.c.recorded_at, r.c.day, r.c.nik, r.c.nama, r.c.kode_desa, r.c.session_id, r.c.session_desa,
                       r.c.operator, r.c.force_captured, r.c.exceptions, r.c.exception_reasons, r.c.exported_at,
                       r.c.duplicate_of, r.c.error)
             .select_from(p.outerjoin(r, r.c.packet_id == p.c.packet_id)))
    if f.station:
        query = query.where(p.c.station_id == f.station)
    if f.day_from:
        query = query.where(r.c.day >= f.day_from.isoformat())
    if f.day_to:
        query = query.where(r.c.day <= f.day_to.isoformat())
    if f.desa:
        query = query.where(r.c.kode_desa == f.desa) if f.desa.count(".") == 3 else \
                query.where(refdata.in_area(r.c.kecamatan, f.desa))
    if f.operator:
        query = query.where(r.c.operator == f.operator)
    if f.exceptions:
        query = query.where(r.c.exceptions > 0)
    if f.force_captured:
        query = query.where(r.c.force_captured > 0)
    if f.status == "received":
        query = query.where(r.c.packet_id.is_(None))
    elif f.status:
        query = query.where(r.c.status == f.status)
    return query


def _row(m: Any) -> dict[str, Any]:
    out = dict(m)
    for key in ("received_at", "recorded_at", "exported_at"):
        value = db.as_utc(out.get(key))
        out[key] = value.isoformat() if value else None
    return out


def list_records(engine: sa.Engine, f: RecordFilter, *, limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """One page of records (newest received first) and the number matching in all."""
    query = _query(f)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        rows = conn.execute(query.order_by(db.packets.c.received_at.desc(), db.packets.c.packet_id.desc())
                            .limit(limit).offset(offset)).mappings().all()
    return [_row(r) for r in rows], int(total)


def records_csv(engine: sa.Engine, f: RecordFilter, batch: int = 2000) -> Iterator[str]:
    """The filtered records as CSV text, streamed in batches (a whole year's export never sits in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    query = _query(f).order_by(db.packets.c.received_at, db.packets.c.packet_id)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(query).mappings()
        for chunk in result.partitions(batch):
            buffer.seek(0)
            buffer.truncate()
            for m in chunk:
                row = _row(m)
                writer.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])
            yield buffer.getvalue()


def filter_options(engine: sa.Engine) -> dict[str, list[str]]:
    """Stations and operators seen, for the filter drop-downs."""
    with engine.connect() as conn:
        stations = [r[0] for r in conn.execute(sa.select(db.stations.c.id).order_by(db.stations.c.id))]
        operators = [r[0] for r in conn.execute(sa.select(records.c.operator).where(
            records.c.operator.is_not(None)).distinct().order_by(records.c.operator))]
    return {"stations": stations, "operators": operators}


def duplicate_niks(engine: sa.Engine, limit: int = 500) -> list[dict[str, Any]]:
    """Every NIK received more than once (counted records), with all its records, newest duplicate first."""
    with engine.connect() as conn:
        niks = [r[0] for r in conn.execute(
            sa.select(records.c.nik).where(records.c.duplicate_of.is_not(None), records.c.status.in_(COUNTED))
            .group_by(records.c.nik).order_by(sa.func.max(records.c.received_at).desc()).limit(limit))]
        if not niks:
            return []
        rows = conn.execute(sa.select(records).where(records.c.nik.in_(niks), records.c.status.in_(COUNTED))
                            .order_by(records.c.received_at)).mappings().all()
    grouped: dict[str, list[dict[str, Any]]] = {n: [] for n in niks}
    for row in rows:
        grouped[row["nik"]].append(_row({k: row[k] for k in ("packet_id", "station_id", "received_at",
                                                               "recorded_at", "kode_desa", "session_id",
                                                               "operator", "nama")}))
    return [{"nik": nik, "count": len(items), "records": items} for nik, items in grouped.items()]
