"""Reference-data imports: bad rows by line and skipped, good rows kept, unknown kode, re-import replaces that
source atomically, a huge file streamed (memory grows by the NIK index, not by the rows), shipped data loads."""

from __future__ import annotations

import tracemalloc
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from office import boundary_import, db, desa_stats, imports, refdata
from office.cli_data import register  # noqa: F401 - the CLI module imports cleanly
from office.coverage import kecamatan_rows
from tests.office_dashboard.rig import nik_for

DISTRICT = "6106"


@pytest.fixture
def engine(tmp_path):
    engine = db.open_db(f"sqlite:///{tmp_path / 'office.db'}")
    refdata.ensure_shipped_wilayah(engine)
    yield engine
    engine.dispose()


def _count(engine, table, **where) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def test_shipped_lists_load_once_with_names(engine):
    assert _count(engine, refdata.wilayah, source=refdata.SHIPPED) == 91_599
    assert refdata.ensure_shipped_wilayah(engine) == 0
    assert refdata.names_for(engine, ["61.06.17.2004", "61.06.17"]) == {"61.06.17.2004": "Jaras",
                                                                         "61.06.17": "Putussibau Selatan"}
    assert len(refdata.children_of(engine, "61.06")) == 23
    assert refdata.ensure_shipped_boundaries(engine, DISTRICT) == 1 + 23 + 282
    assert _count(engine, refdata.boundaries, level=4) == 282


def test_targets_bad_rows_are_reported_by_line_and_the_good_rows_kept(engine, tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text(
        "kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n"
        "61.06.17,Putussibau Selatan,1000,800\n"          # 2 ok
        "61.06.17.2004,Jaras,200,150\n"                    # 3 ok
        "61.06.17.2999,Tidak Ada,10,5\n"                   # 4 unknown kode
        "61.07.01,Luar,10,5\n"                             # 5 other district
        "61.06.18,Kalis,seribu,5\n"                        # 6 not a number
        "61.06.15,Silat Hilir,100,101\n"                   # 7 more recorded than wajib
        "61.06.17.2004,Jaras,1,1\n"                        # 8 repeated
        "6106182001,Kalis desa undotted,50,40\n"           # 9 ok (undotted)
        "61.06,Kapuas Hulu,5,5\n",                         # 10 not kecamatan/desa
        encoding="utf-8")
    report = imports.import_targets(engine, path, district=DISTRICT)
    assert report.imported == 3 and report.skipped == 6
    reasons = {e.line: e.reason for e in report.errors}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 10]
    assert "unknown kode_wilayah 61.06.17.2999" in reasons[4]
    assert "outside this office's district" in reasons[5]
    assert "not a whole number" in reasons[6] and "more than wajib_ktp" in reasons[7]
    assert "first on line 3" in reasons[8]
    rows = {r.kode: r for r in kecamatan_rows(engine, DISTRICT)}
    assert (rows["61.06.17"].wajib_ktp, rows["61.06.17"].recorded_before) == (1000, 800)
    assert rows["61.06.18"].wajib_ktp == 50          # no own row: the sum of its desa


def test_reimport_replaces_only_that_source_and_a_failed_import_changes_nothing(engine, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n61.06.01,X,10,1\n61.06.02,Y,10,2\n")
    b.write_text("kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n61.06.03,Z,10,3\n")
    imports.import_targets(engine, a, district=DISTRICT)
    imports.import_targets(engine, b, district=DISTRICT)
    a.write_text("kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n61.06.02,Y,20,4\n")
    imports.import_targets(engine, a, district=DISTRICT)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.select(refdata.targets.c.kode, refdata.targets.c.wajib_ktp)).all())
    assert got == {"61.06.02": 20, "61.06.03": 10}    # 61.06.01 gone with a's old rows; b untouched
    a.write_text("kode,nama\n1,2\n")
    with pytest.raises(imports.ImportFileError, match="lacks column"):
        imports.import_targets(engine, a, district=DISTRICT)
    assert _count(engine, refdata.targets) == 2


def _residents_file(path: Path, rows: int, bad_every: int = 0) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n")
        for i in range(rows):
            born = date(1960 + i % 40, 1 + i % 12, 1 + i % 28)
            serial = 1 + i % 9999
            kec_desa = "61.06.17.2004"
            nik = nik_for("61.06.17", born, "L", serial)
            if bad_every and i % bad_every == 7:
                nik = nik[:-1]
            # vary the birth day by i so every NIK is distinct
            handle.write(f"{nik},Warga Nomor {i} Dengan Nama Panjang,{born.isoformat()},L,{kec_desa},"
                         f"Dusun {i % 7} RT {i % 13} Jalan Sungai Kapuas Nomor {i}\n")


def test_residents_bad_rows_by_line_unknown_desa_and_stats(engine, tmp_path):
    path = tmp_path / "residents.csv"
    born = date(1991, 5, 3)
    good = nik_for("61.06.17", born, "P", 1)
    path.write_text(
        "nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n"
        f"{good},Siti,1991-05-03,P,61.06.17.2004,Dusun 1\n"
        f"{nik_for('61.06.17', born, 'P', 2)},Ani,1991-05-03,P,61.06.17.2999,Dusun 1\n"
        f"{good[:-1]},Pendek,1991-05-03,P,61.06.17.2004,Dusun 1\n"
        f"{good},Siti lagi,1991-05-03,P,61.06.17.2004,Dusun 1\n"
        f"{nik_for('61.06.17', born, 'L', 3)},Budi,1991-05-03,P,61.06.17.2004,x\n",
        encoding="utf-8")
    report = imports.import_residents(engine, path, district=DISTRICT)
    assert report.imported == 1
    reasons = {e.line: e.reason for e in report.errors}
    assert "unknown kode_desa 61.06.17.2999" in reasons[3]
    assert "invalid NIK" in reasons[4] and "first on line 2" in reasons[5] and "jenis_kelamin" in reasons[6]
    desa_stats.rebuild(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(desa_stats.desa_stats).where(
            desa_stats.desa_stats.c.kode_desa == "61.06.17.2004")).mappings().one()
    assert (row["residents"], row["residents_unrecorded"]) == (1, 1)


@pytest.mark.timeout(240)
def test_a_huge_residents_file_is_streamed(engine, tmp_path):
    """Peak Python memory grows by the NIK index (~100 bytes a row), far less than the rows themselves."""
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    _residents_file(small, 2_000, bad_every=1000)
    _residents_file(big, 12_000, bad_every=1000)
    row_bytes = big.stat().st_size / 12_000
    peaks = {}
    for path in (small, big):
        tracemalloc.start()
        report = imports.import_residents(engine, path, district=DISTRICT, source="huge")
        peaks[path.name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert report.skipped == len(report.errors) > 0
        assert all("invalid NIK" in e.reason for e in report.errors)
    growth_per_row = (peaks["big.csv"] - peaks["small.csv"]) / 10_000
    assert growth_per_row < 200, f"memory grew {growth_per_row:.0f} bytes a row (a row is {row_bytes:.0f} bytes)"
    assert _count(engine, refdata.residents, source="huge") == report.imported
    assert report.imported + report.skipped == 12_000


def test_boundaries_import_reports_bad_features(engine):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kode_wilayah": "61.06.17", "nama_wilayah": "PS", "lat": 0.8,
                                           "lng": 113.0},
         "geometry": {"type": "Polygon", "coordinates": [[[113, 0.7], [113.2, 0.7], [113.2, 0.9], [113, 0.7]]]}},
        {"type": "Feature", "properties": {"kode_wilayah": "61.06.99"},
         "geometry": {"type": "Polygon", "coordinates": [[[113, 0.7], [113.2, 0.7], [113.2, 0.9], [113, 0.7]]]}},
        {"type": "Feature", "properties": {"kode_wilayah": "61.06.18"}, "geometry": {"type": "Point"}},
    ]}
    report = boundary_import.import_boundaries(engine, doc, source="test", district=DISTRICT)
    assert report.imported == 1
    assert [e.line for e in report.errors] == [2, 3]
    assert "unknown kode_wilayah 61.06.99" in report.errors[0].reason
    with pytest.raises(imports.ImportFileError):
        boundary_import.import_boundaries(engine, {"type": "Feature"}, source="x")
