"""The made-up demo targets add up to the district's real figures, with the kecamatan the article names least
recorded; the demo residents import cleanly; the demo station's roster comes from the roster export."""

from __future__ import annotations

import csv
import io

import pytest

from office import db
from office.coverage import district_row, kecamatan_rows
from office.demo_reference import (
    DEMO_ROSTER_DESA,
    RESIDENTS_FILE,
    TARGETS_FILE,
    data_path,
    demo_station_roster,
    load_demo_reference,
)
from station.demo_data import seed_demo
from station.store import connect


@pytest.fixture
def engine(tmp_path):
    engine = db.open_db(f"sqlite:///{tmp_path / 'office.db'}")
    yield engine
    engine.dispose()


def test_demo_targets_add_up_and_the_named_kecamatan_are_least_recorded(engine):
    rows = list(csv.DictReader(open(data_path(TARGETS_FILE), encoding="utf-8")))
    kec = [r for r in rows if r["kode_wilayah"].count(".") == 2]
    desa = [r for r in rows if r["kode_wilayah"].count(".") == 3]
    assert len(kec) == 23 and len(desa) == 282
    for level in (kec, desa):
        assert sum(int(r["wajib_ktp"]) for r in level) == 169_067
        assert sum(int(r["sudah_rekam"]) for r in level) == 155_769
    assert "made-up" in TARGETS_FILE and "made-up" in RESIDENTS_FILE
    assert load_demo_reference(engine) is True and load_demo_reference(engine) is False
    total = district_row(engine, "6106")
    assert (total.wajib_ktp, total.recorded_before, total.recorded_since) == (169_067, 155_769, 0)
    ranked = sorted(kecamatan_rows(engine, "6106"), key=lambda r: r.percent)
    assert {r.nama for r in ranked[:3]} == {"Putussibau Selatan", "Kalis", "Silat Hilir"}
    assert next(r for r in ranked if r.nama == "Putussibau Selatan").remaining > 1000


def test_demo_station_roster_is_the_roster_export(engine, tmp_path):
    load_demo_reference(engine)
    text = demo_station_roster(engine)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["kode_desa"] for r in rows} == set(DEMO_ROSTER_DESA)
    conn = connect(tmp_path / "station")
    try:
        info = seed_demo(conn, "6106", roster_text=text)
        assert info.residents == len(rows) and info.villages == DEMO_ROSTER_DESA
    finally:
        conn.close()
