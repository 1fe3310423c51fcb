"""Coverage against the wajib-KTP targets, per district, kecamatan and desa, and the rate it is moving at.

``wajib_ktp`` and ``sudah_rekam`` ("recorded before") come from the imported targets; a kecamatan without a row of
its own sums its desa. ``recorded_since`` counts distinct NIKs in verified records (``desa_stats``). Percent is
(before + since) / wajib; ``remaining`` what is left. The projection divides what remains by the average daily
count of the last ``RATE_DAYS`` calendar days; with no recent records there is no projected date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from office import refdata
from office.desa_stats import day_counts, desa_stats

RATE_DAYS = 14
CHART_DAYS = 30


@dataclass(frozen=True)
class CoverageRow:
    kode: str
    nama: str
    wajib_ktp: int | None
    recorded_before: int
    recorded_since: int

    @property
    def recorded(self) -> int:
        return self.recorded_before + self.recorded_since

    @property
    def percent(self) -> float | None:
        if not self.wajib_ktp:
            return None
        return min(100.0, 100.0 * self.recorded / self.wajib_ktp)

    @property
    def remaining(self) -> int | None:
        return None if self.wajib_ktp is None else max(0, self.wajib_ktp - self.recorded)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recorded": self.recorded, "remaining": self.remaining,
                "percent": None if self.percent is None else round(self.percent, 2)}


def district_code(district: str) -> str:
    return f"{district[:2]}.{district[2:]}"


def _targets(engine: sa.Engine, prefix: str) -> dict[str, tuple[int, int, int]]:
    t = refdata.targets
    with engine.connect() as conn:
        return {k: (lvl, w, s) for k, lvl, w, s in conn.execute(
            sa.select(t.c.kode, t.c.level, t.c.wajib_ktp, t.c.sudah_rekam)
            .where(refdata.in_area(t.c.kecamatan, prefix)))}


def _recorded_by_desa(engine: sa.Engine, prefix: str) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(desa_stats.c.kode_desa, desa_stats.c.recorded)
                                 .where(refdata.in_area(desa_stats.c.kecamatan, prefix))).all())


def kecamatan_rows(engine: sa.Engine, district: str) -> list[CoverageRow]:
    """Every kecamatan of the district (from the kode wilayah list, so none is missing for lack of a target)."""
    prefix = district_code(district)
    names = refdata.children_of(engine, prefix)
    targets = _targets(engine, prefix)
    recorded = _recorded_by_desa(engine, prefix)
    rows = []
    for kode, nama in names.items():
        own = targets.get(kode)
        desa = [v for k, v in targets.items() if k.startswith(kode + ".") and v[0] == 4]
        if own is not None:
            wajib, before = own[1], own[2]
        elif desa:
            wajib, before = sum(d[1] for d in desa), sum(d[2] for d in desa)
        else:
            wajib, before = None, 0
        since = sum(v for k, v in recorded.items() if k.startswith(kode + "."))
        rows.append(CoverageRow(kode, nama, wajib, before, since))
    return rows


def desa_rows(engine: sa.Engine, district: str, kecamatan: str | None = None) -> list[CoverageRow]:
    """The desa of one kecamatan (or of the whole district)."""
    parent = kecamatan or district_code(district)
    targets = _targets(engine, parent)
    recorded = _recorded_by_desa(engine, parent)
    if kecamatan:
        names = refdata.children_of(engine, kecamatan)
    else:
        names = {}
        for kec in refdata.children_of(engine, parent):
            names |= refdata.children_of(engine, kec)
    rows = []
    for kode, nama in names.items():
        own = targets.get(kode)
        rows.append(CoverageRow(kode, nama, own[1] if own else None, own[2] if own else 0, recorded.get(kode, 0)))
    return rows


def district_row(engine: sa.Engine, district: str, kecamatan: list[CoverageRow] | None = None) -> CoverageRow:
    kecamatan = kecamatan if kecamatan is not None else kecamatan_rows(engine, district)
    code = district_code(district)
    wajib_values = [r.wajib_ktp for r in kecamatan if r.wajib_ktp is not None]
    return CoverageRow(code, refdata.names_for(engine, [code]).get(code, code),
                       sum(wajib_values) if wajib_values else None,
                       sum(r.recorded_before for r in kecamatan), sum(r.recorded_since for r in kecamatan))


def records_per_day(engine: sa.Engine, today: date, days: int = CHART_DAYS) -> list[tuple[str, int]]:
    """(day, verified records) for each of the last ``days`` days ending ``today``, zeros included."""
    first = (today - timedelta(days=days - 1)).isoformat()
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.select(day_counts.c.day, day_counts.c.records)
                                   .where(day_counts.c.day >= first)).all())
    wanted = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    return [(day, int(counts.get(day, 0))) for day in wanted]


@dataclass(frozen=True)
class Projection:
    rate_per_day: float
    """Average records per day over the last ``RATE_DAYS`` days."""
    remaining: int | None
    target_date: date | None
    """When the target is reached at that rate; None if it cannot be (no rate, or no target)."""

    def as_dict(self) -> dict[str, Any]:
        return {"rate_per_day": round(self.rate_per_day, 2), "remaining": self.remaining,
                "target_date": self.target_date.isoformat() if self.target_date else None,
                "rate_days": RATE_DAYS}


def project(per_day: list[tuple[str, int]], remaining: int | None, today: date) -> Projection:
    recent = [count for _, count in per_day[-RATE_DAYS:]]
    rate = sum(recent) / RATE_DAYS if recent else 0.0
    if remaining is None:
        return Projection(rate, None, None)
    if remaining == 0:
        return Projection(rate, 0, today)
    if rate <= 0:
        return Projection(rate, remaining, None)
    return Projection(rate, remaining, today + timedelta(days=int(-(-remaining // rate))))


def coverage_summary(engine: sa.Engine, district: str, today: date) -> dict[str, Any]:
    """What the Cakupan page and ``/api/v1/dashboard/coverage`` show above the table."""
    kecamatan = kecamatan_rows(engine, district)
    total = district_row(engine, district, kecamatan)
    per_day = records_per_day(engine, today)
    return {"district": total, "kecamatan": kecamatan, "per_day": per_day,
            "projection": project(per_day, total.remaining, today)}
