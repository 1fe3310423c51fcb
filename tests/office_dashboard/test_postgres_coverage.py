"""The records index, coverage, planner, duplicates, records and roster export on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from office import desa_stats, imports
from office.coverage import desa_rows, kecamatan_rows
from office.planner import plan
from office.record_list import RecordFilter, duplicate_niks, list_records
from office.roster_export import roster_rows
from tests.office_dashboard.rig import OFFICE_LOCATION, index_all, office_with_stations, resident
from tests.pg_server import postgres_server

JARAS = "61.06.17.2004"


@pytest.mark.slow
def test_coverage_on_postgresql(tmp_path):
    with postgres_server() as url, office_with_stations(tmp_path, url) as (office, rigs):
        targets = tmp_path / "t.csv"
        targets.write_text(f"kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n{JARAS},Jaras,10,5\n")
        assert imports.import_targets(office.engine, targets, district="6106").imported == 1
        people = [resident(JARAS, i) for i in range(1, 4)]
        residents = tmp_path / "r.csv"
        residents.write_text("nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n" + "".join(
            f"{p.nik},{p.nama},{p.tanggal_lahir.isoformat()},L,{p.kode_desa},x\n" for p in people))
        assert imports.import_residents(office.engine, residents, district="6106").imported == 3
        desa_stats.rebuild(office.engine)
        rigs["kph-01"].record_and_upload(people[0])
        rigs["kph-02"].record_and_upload(people[0], seed=3)
        assert index_all(office) == 2
        jaras = {r.kode: r for r in desa_rows(office.engine, "6106", "61.06.17")}[JARAS]
        assert (jaras.recorded_since, jaras.remaining) == (1, 4)
        kec = {r.kode: r for r in kecamatan_rows(office.engine, "6106")}["61.06.17"]
        assert (kec.wajib_ktp, kec.recorded_since) == (10, 1)
        rows = plan(office.engine, "6106", datetime.now(UTC),
                    (OFFICE_LOCATION["location_lat"], OFFICE_LOCATION["location_lng"]), kecamatan="61.06.17")
        assert rows[0].kode == JARAS and rows[0].unrecorded == 2 and rows[0].last_station == "kph-02"
        assert [d["nik"] for d in duplicate_niks(office.engine)] == [people[0].nik]
        assert list_records(office.engine, RecordFilter(desa="61.06.17"))[1] == 2
        assert [r[0] for r in roster_rows(office.engine, [JARAS])] == sorted(
            [p.nik for p in people[1:]], key=lambda n: next(p.nama for p in people if p.nik == n))
        before = kecamatan_rows(office.engine, "6106")
        desa_stats.rebuild(office.engine)
        assert kecamatan_rows(office.engine, "6106") == before
