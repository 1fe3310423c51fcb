"""The demo office's reference data: Kapuas Hulu's names and boundaries, MADE-UP targets and residents.

``office/data/demo-targets-6106-made-up.csv`` invents per-kecamatan and per-desa figures that add up to the
district's real totals (169,067 wajib KTP, 155,769 recorded, 5 January 2018); the Cakupan page says they are made
up (the source name says so). ``demo-residents-6106-made-up.csv`` invents unrecorded residents for five desa. The
demo station's roster is what ``jemput office roster export`` writes for two of those desa.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from office import desa_stats, imports, refdata
from office.roster_export import roster_csv

TARGETS_FILE = "demo-targets-6106-made-up.csv"
RESIDENTS_FILE = "demo-residents-6106-made-up.csv"
DEMO_DISTRICT = "6106"
DEMO_ROSTER_DESA = ("61.06.17.1001", "61.06.17.1002")   # Kedamin Hulu, Kedamin Hilir


def data_path(name: str) -> Path:
    return Path(str(resources.files("office").joinpath("data", name)))


def load_demo_reference(engine: sa.Engine, district: str = DEMO_DISTRICT) -> bool:
    """Load everything once (True when it loaded now; False when it was there or the district is not 6106)."""
    refdata.ensure_shipped_wilayah(engine)
    refdata.ensure_shipped_boundaries(engine, district)
    if district != DEMO_DISTRICT:
        return False
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(refdata.targets)
                        .where(refdata.targets.c.source == TARGETS_FILE)).scalar_one():
            return False
    imports.import_targets(engine, data_path(TARGETS_FILE), district=district, source=TARGETS_FILE)
    imports.import_residents(engine, data_path(RESIDENTS_FILE), district=district, source=RESIDENTS_FILE)
    desa_stats.rebuild(engine)
    return True


def demo_station_roster(engine: sa.Engine, desa: tuple[str, ...] = DEMO_ROSTER_DESA) -> str:
    """The demo station's roster, exactly as ``jemput office roster export --desa ...`` writes it."""
    out = io.StringIO()
    for chunk in roster_csv(engine, list(desa)):
        out.write(chunk)
    return out.getvalue()
