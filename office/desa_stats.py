"""Running counts per desa, kept in step with the records index so coverage and planner read ~300 rows, not 1M.

``recorded`` counts distinct NIKs (a NIK's first counted record; later ones are duplicates and carry
``duplicate_of``), ``residents_unrecorded`` the residents list minus those NIKs, and ``last_*`` the latest session
held in the desa (by the session's desa, where the team actually was). The indexer updates a row in the same
transaction as the record it adds; ``rebuild`` recomputes everything from the tables (after a residents import, or
when the counts are missing), so a bug or a crash can always be repaired by recounting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from office import refdata
from office.db import as_utc, metadata

desa_stats = sa.Table(
    "desa_stats", metadata,
    sa.Column("kode_desa", sa.String(13), primary_key=True),
    sa.Column("kecamatan", sa.String(8), nullable=False, index=True),
    sa.Column("recorded", sa.Integer, nullable=False, default=0),
    sa.Column("records", sa.Integer, nullable=False, default=0),
    sa.Column("residents", sa.Integer, nullable=False, default=0),
    sa.Column("residents_unrecorded", sa.Integer, nullable=False, default=0),
    sa.Column("last_session_at", sa.DateTime(timezone=True)),
    sa.Column("last_station", sa.String(64)),
    sa.Column("last_session_id", sa.String(64)),
)

day_counts = sa.Table(
    "records_per_day", metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("records", sa.Integer, nullable=False, default=0),
)
"""Verified records per local day (the Cakupan chart and the projection read 30 rows, not a month of records)."""

resident_recorded = sa.Table(
    "office_resident_recorded", metadata,
    sa.Column("nik", sa.String(16), primary_key=True),
)
"""NIKs of the residents list that have a counted record (so 'unrecorded' never scans the records)."""


def _bump(conn: sa.Connection, kode_desa: str, **changes: Any) -> None:
    """Add to counters of one desa, creating its row on first use."""
    if not changes:
        exists = conn.execute(sa.select(desa_stats.c.kode_desa).where(desa_stats.c.kode_desa == kode_desa)).scalar()
        if exists is None:
            conn.execute(desa_stats.insert().values(kode_desa=kode_desa, kecamatan=kode_desa[:8]))
        return
    values = {k: desa_stats.c[k] + v for k, v in changes.items()}
    done = conn.execute(desa_stats.update().where(desa_stats.c.kode_desa == kode_desa).values(**values)).rowcount
    if not done:
        conn.execute(desa_stats.insert().values(kode_desa=kode_desa, kecamatan=kode_desa[:8],
                                                **{k: max(0, v) for k, v in changes.items()}))


def count_record(conn: sa.Connection, row: dict[str, Any], first_of_nik: bool) -> None:
    """Account one counted record (called by the indexer inside its transaction)."""
    if row.get("day"):
        done = conn.execute(day_counts.update().where(day_counts.c.day == row["day"])
                            .values(records=day_counts.c.records + 1)).rowcount
        if not done:
            conn.execute(day_counts.insert().values(day=row["day"], records=1))
    if row.get("kode_desa"):
        _bump(conn, row["kode_desa"], records=1, recorded=1 if first_of_nik else 0)
    if first_of_nik and row.get("nik"):
        resident_desa = conn.execute(sa.select(refdata.residents.c.kode_desa)
                                     .where(refdata.residents.c.nik == row["nik"])).scalar()
        if resident_desa is not None:
            exists = conn.execute(sa.select(resident_recorded.c.nik)
                                  .where(resident_recorded.c.nik == row["nik"])).scalar()
            if exists is None:
                conn.execute(resident_recorded.insert().values(nik=row["nik"]))
                _bump(conn, resident_desa, residents_unrecorded=-1)
    desa, at = row.get("session_desa") or row.get("kode_desa"), row.get("recorded_at")
    if desa and at is not None:
        _bump(conn, desa)
        current = as_utc(conn.execute(sa.select(desa_stats.c.last_session_at)
                                      .where(desa_stats.c.kode_desa == desa)).scalar())
        if current is None or at > current:
            conn.execute(desa_stats.update().where(desa_stats.c.kode_desa == desa).values(
                last_session_at=at, last_station=row.get("station_id"), last_session_id=row.get("session_id")))


def rebuild(engine: sa.Engine) -> None:
    """Recount everything from records and residents, in one transaction."""
    from office.record_index import COUNTED, records

    counted = records.c.status.in_(COUNTED)
    with engine.begin() as conn:
        conn.execute(desa_stats.delete())
        conn.execute(resident_recorded.delete())
        conn.execute(day_counts.delete())
        conn.execute(day_counts.insert().from_select(
            ["day", "records"], sa.select(records.c.day, sa.func.count()).where(counted, records.c.day.is_not(None))
            .group_by(records.c.day)))
        rows: dict[str, dict[str, Any]] = {}

        def row(kode: str) -> dict[str, Any]:
            return rows.setdefault(kode, {"kode_desa": kode, "kecamatan": kode[:8], "recorded": 0, "records": 0,
                                          "residents": 0, "residents_unrecorded": 0, "last_session_at": None,
                                          "last_station": None, "last_session_id": None})

        for kode, total, first in conn.execute(
                sa.select(records.c.kode_desa, sa.func.count(),
                          sa.func.sum(sa.case((records.c.duplicate_of.is_(None), 1), else_=0)))
                .where(counted, records.c.kode_desa.is_not(None)).group_by(records.c.kode_desa)):
            row(kode).update(records=int(total), recorded=int(first or 0))
        conn.execute(resident_recorded.insert().from_select(
            ["nik"], sa.select(refdata.residents.c.nik).where(sa.exists().where(
                records.c.nik == refdata.residents.c.nik, counted))))
        recorded_flag = sa.exists().where(resident_recorded.c.nik == refdata.residents.c.nik)
        for kode, total, unrecorded in conn.execute(
                sa.select(refdata.residents.c.kode_desa, sa.func.count(),
                          sa.func.sum(sa.case((recorded_flag, 0), else_=1)))
                .group_by(refdata.residents.c.kode_desa)):
            row(kode).update(residents=int(total), residents_unrecorded=int(unrecorded or 0))
        place = sa.func.coalesce(records.c.session_desa, records.c.kode_desa)
        latest = (sa.select(place.label("desa"), sa.func.max(records.c.recorded_at).label("at"))
                  .where(counted, records.c.recorded_at.is_not(None)).group_by(place).subquery())
        query = (sa.select(latest.c.desa, latest.c.at, records.c.station_id, records.c.session_id)
                 .join(records, sa.and_(place == latest.c.desa, records.c.recorded_at == latest.c.at)))
        for desa, at, station, session in conn.execute(query):
            if desa:
                row(desa).update(last_session_at=as_utc(at), last_station=station, last_session_id=session)
        if rows:
            conn.execute(desa_stats.insert(), list(rows.values()))


def last_sessions(engine: sa.Engine) -> dict[str, tuple[datetime | None, str | None]]:
    with engine.connect() as conn:
        return {k: (as_utc(at), station) for k, at, station in conn.execute(
            sa.select(desa_stats.c.kode_desa, desa_stats.c.last_session_at, desa_stats.c.last_station))}
