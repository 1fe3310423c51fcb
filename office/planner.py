"""The next trip: desa ranked by unrecorded residents, with when a team was last there, how far it is, and who went.

Unrecorded comes from the residents list minus received records where a list exists for the desa
(``source = "residents"``), otherwise from the targets (wajib KTP minus recorded before and since,
``source = "targets"``). Distance is great-circle (haversine, mean Earth radius 6,371 km) from the office's
location (``[office] location_lat/lng``) to the desa's label point in the boundaries GeoJSON (its ``lat``/``lng``
properties): a straight line, not a road or river route, and the page says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from office import refdata
from office.coverage import desa_rows, district_code
from office.db import as_utc
from office.desa_stats import desa_stats

EARTH_RADIUS_KM = 6371.0


def great_circle_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance between two WGS 84 points, in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class PlannerRow:
    kode: str
    nama: str
    kecamatan: str
    kecamatan_nama: str
    unrecorded: int | None
    source: str
    """``residents`` (named list) or ``targets`` (estimate from the figures) or ``none``."""
    days_since_last_session: int | None
    last_session_at: datetime | None
    last_station: str | None
    distance_km: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"kode": self.kode, "nama": self.nama, "kecamatan": self.kecamatan,
                "kecamatan_nama": self.kecamatan_nama, "unrecorded": self.unrecorded, "source": self.source,
                "days_since_last_session": self.days_since_last_session,
                "last_session_at": self.last_session_at.isoformat() if self.last_session_at else None,
                "last_station": self.last_station,
                "distance_km": None if self.distance_km is None else round(self.distance_km, 1)}


def plan(engine: sa.Engine, district: str, now: datetime, office_location: tuple[float, float] | None,
         *, kecamatan: str | None = None, limit: int | None = None) -> list[PlannerRow]:
    """Desa ranked by unrecorded (most first), ties by distance (nearest first), then code."""
    prefix = kecamatan or district_code(district)
    coverage = {r.kode: r for r in desa_rows(engine, district, kecamatan)}
    kec_names = refdata.children_of(engine, district_code(district))
    b = refdata.boundaries
    where_desa = b.c.parent == prefix if kecamatan else b.c.kode.like(prefix + ".%")
    with engine.connect() as conn:
        stats = {r["kode_desa"]: r for r in conn.execute(
            sa.select(desa_stats).where(refdata.in_area(desa_stats.c.kecamatan, prefix))).mappings()}
        points = {k: (lat, lng) for k, lat, lng in conn.execute(
            sa.select(b.c.kode, b.c.label_lat, b.c.label_lng).where(where_desa, b.c.level == 4))}
    rows = []
    for kode, cov in coverage.items():
        stat = stats.get(kode)
        if stat is not None and stat["residents"]:
            unrecorded, source = int(stat["residents_unrecorded"]), "residents"
        elif cov.remaining is not None:
            unrecorded, source = cov.remaining, "targets"
        else:
            unrecorded, source = None, "none"
        last_at = as_utc(stat["last_session_at"]) if stat is not None else None
        point = points.get(kode)
        distance = (great_circle_km(office_location[0], office_location[1], point[0], point[1])
                    if office_location and point and point[0] is not None else None)
        rows.append(PlannerRow(
            kode=kode, nama=cov.nama, kecamatan=kode[:8], kecamatan_nama=kec_names.get(kode[:8], kode[:8]),
            unrecorded=unrecorded, source=source,
            days_since_last_session=(now - last_at).days if last_at else None, last_session_at=last_at,
            last_station=stat["last_station"] if stat is not None else None, distance_km=distance))
    rows.sort(key=lambda r: (-(r.unrecorded if r.unrecorded is not None else -1),
                             r.distance_km if r.distance_km is not None else math.inf, r.kode))
    return rows[:limit] if limit else rows
