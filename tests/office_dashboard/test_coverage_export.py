"""Coverage, planner, duplicates, records and the two exports, over records a real station sealed and uploaded."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from office import central_export, desa_stats, imports
from office.coverage import coverage_summary, desa_rows, kecamatan_rows, project
from office.keys import BIOMETRICS_IDENTITY_FILE
from office.planner import great_circle_km, plan
from office.record_index import records
from office.record_list import RecordFilter, duplicate_niks, list_records, records_csv
from office.roster_export import parse_desa_list, write_roster
from station import keys
from station.roster import find_by_nik, import_roster
from tests.office_dashboard.rig import index_all, nik_for, office_with_stations, resident

DESA_A, DESA_B = "61.06.17.2004", "61.06.17.2005"   # Jaras, and its neighbour in Putussibau Selatan
PUTUSSIBAU = (0.8363, 112.9311)


def _targets(tmp_path, rows):
    path = tmp_path / "targets.csv"
    path.write_text("kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n" + "".join(f"{r}\n" for r in rows))
    return path


def _residents(tmp_path, people):
    path = tmp_path / "residents.csv"
    lines = ["nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat"]
    lines += [f"{p.nik},{p.nama},{p.tanggal_lahir.isoformat()},{p.jenis_kelamin},{p.kode_desa},{p.alamat}"
              for p in people]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def world(tmp_path):
    with office_with_stations(tmp_path) as (office, rigs):
        imports.import_targets(office.engine, _targets(tmp_path, [
            "61.06.17,Putussibau Selatan,100,80", f"{DESA_A},Jaras,10,5", f"{DESA_B},X,20,10"]), district="6106")
        people = [resident(DESA_A, i) for i in range(1, 6)] + [resident(DESA_B, i) for i in range(6, 8)]
        imports.import_residents(office.engine, _residents(tmp_path, people), district="6106")
        desa_stats.rebuild(office.engine)
        yield office, rigs, people


def test_coverage_counts_distinct_niks_and_duplicates_are_listed(world):
    office, rigs, people = world
    first = rigs["kph-01"].record_and_upload(people[0])
    rigs["kph-01"].record_and_upload(people[1])
    again = rigs["kph-02"].record_and_upload(people[0], seed=9)   # the same NIK at another station
    assert index_all(office) == 3
    kec = {r.kode: r for r in kecamatan_rows(office.engine, "6106")}["61.06.17"]
    assert (kec.wajib_ktp, kec.recorded_before, kec.recorded_since, kec.remaining) == (100, 80, 2, 18)
    assert kec.percent == pytest.approx(82.0)
    jaras = {r.kode: r for r in desa_rows(office.engine, "6106", "61.06.17")}[DESA_A]
    assert (jaras.recorded_since, jaras.remaining, jaras.nama) == (2, 3, "Jaras")
    dups = duplicate_niks(office.engine)
    assert [d["nik"] for d in dups] == [people[0].nik]
    assert {r["packet_id"] for r in dups[0]["records"]} == {first, again}
    assert {r["station_id"] for r in dups[0]["records"]} == {"kph-01", "kph-02"}
    today = datetime.now(UTC).date()
    summary = coverage_summary(office.engine, "6106", today + timedelta(days=1))
    assert sum(n for _, n in summary["per_day"]) == 3 and summary["projection"].target_date is not None
    # A rebuild from scratch agrees with the running counts.
    before = kecamatan_rows(office.engine, "6106")
    desa_stats.rebuild(office.engine)
    assert kecamatan_rows(office.engine, "6106") == before


def test_projection_at_the_recent_rate():
    per_day = [(f"d{i}", 7) for i in range(30)]
    assert project(per_day, 70, date(2026, 1, 1)).target_date == date(2026, 1, 11)
    assert project([(f"d{i}", 0) for i in range(30)], 5, date(2026, 1, 1)).target_date is None


def test_planner_ranks_by_unrecorded_with_last_session_and_distance(world):
    office, rigs, people = world
    rigs["kph-02"].record_and_upload(people[0])
    index_all(office)
    now = datetime.now(UTC) + timedelta(days=3)
    rows = plan(office.engine, "6106", now, PUTUSSIBAU, kecamatan="61.06.17")
    by_kode = {r.kode: r for r in rows}
    assert (by_kode[DESA_A].unrecorded, by_kode[DESA_A].source) == (4, "residents")
    assert (by_kode[DESA_B].unrecorded, by_kode[DESA_B].source) == (2, "residents")
    others = [r for r in rows if r.kode not in (DESA_A, DESA_B)]
    assert all(r.source == "none" for r in others)
    assert [r.kode for r in rows[:2]] == [DESA_A, DESA_B]
    assert by_kode[DESA_A].last_station == "kph-02" and by_kode[DESA_A].days_since_last_session == 3
    assert 0 < by_kode[DESA_A].distance_km < 200
    assert great_circle_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.01)


def test_records_filters_and_csv(world):
    office, rigs, people = world
    rigs["kph-01"].record_and_upload(people[0])
    rigs["kph-02"].record_and_upload(people[5])
    pending = rigs["kph-02"].record(people[6])
    rigs["kph-02"].upload(pending)
    index_all(office)
    rows, total = list_records(office.engine, RecordFilter())
    assert total == 3 and {r["status"] for r in rows} == {"verified"}
    assert list_records(office.engine, RecordFilter(station="kph-02"))[1] == 2
    assert list_records(office.engine, RecordFilter(desa=DESA_B))[1] == 2
    assert list_records(office.engine, RecordFilter(desa="61.06.17"))[1] == 3
    assert list_records(office.engine, RecordFilter(operator="siti"))[1] == 3
    assert list_records(office.engine, RecordFilter(exceptions=True))[1] == 0
    text = "".join(records_csv(office.engine, RecordFilter(station="kph-01")))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["nik"] for r in parsed] == [people[0].nik] and parsed[0]["status"] == "verified"
    assert "photo" not in text.lower()


def test_roster_export_round_trips_into_a_station_roster_import(world, tmp_path):
    office, rigs, people = world
    rigs["kph-01"].record_and_upload(people[0])
    index_all(office)
    out = tmp_path / "roster.csv"
    assert write_roster(office.engine, parse_desa_list(f"{DESA_A},{DESA_B}", "6106"), out) == 6
    station = rigs["kph-02"].station
    with station.db_lock:
        report = import_roster(station.conn, out)
    assert (report.imported, report.skipped) == (6, 0)
    assert find_by_nik(station.conn, people[0].nik) is None          # already recorded: not on the roster
    assert find_by_nik(station.conn, people[6].nik) == people[6]
    with pytest.raises(Exception, match="outside this office's district"):
        parse_desa_list("61.07.01.2001", "6106")


def test_export_is_byte_exact_resumable_skips_a_tampered_packet_and_needs_the_biometrics_key(world, tmp_path):
    office, rigs, people = world
    ids = [rigs["kph-01"].record_and_upload(people[i], seed=i) for i in range(3)]
    index_all(office)
    copy = tmp_path / "copy-of-packets"
    shutil.copytree(office.config.packets_dir, copy)
    tampered = copy / f"{ids[1]}.jpk"
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    station_keys = central_export.station_keys_from_db(office.engine)
    today = datetime.now(UTC).date()
    span = {"since": today - timedelta(days=1), "until": today + timedelta(days=1)}
    records_identity = office.keys.age_identity
    with pytest.raises(central_export.ExportError, match="records identity"):
        central_export.export_records(copy, tmp_path / "no", identity=records_identity,
                                      station_verify_keys=station_keys, **span)
    assert not any((tmp_path / "no").iterdir())
    bio = keys.load_age_identity(office.config.keys_dir / BIOMETRICS_IDENTITY_FILE)
    out = tmp_path / "export"
    offline = central_export.export_records(copy, out, identity=bio, station_verify_keys=station_keys, **span)
    assert sorted(offline.exported) == sorted([ids[0], ids[2]]) and not offline.database_reachable
    assert [name for name, _ in offline.skipped] == [tampered.name]
    for packet_id in offline.exported:
        sealed = rigs["kph-01"].payloads[packet_id]
        folder = out / packet_id
        assert (folder / "photo.jpg").read_bytes() == sealed.photo
        for finger, body in sealed.fingers.items():
            [written] = (folder / "fingers").glob(f"{finger.code}.*")   # .jxl (or .png from older stations)
            assert written.read_bytes() == body
        assert (folder / "signature.png").read_bytes() == sealed.signature_png
        assert (folder / "manifest.json").exists() and (folder / "signature.json").exists()
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    with office.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(records)
                            .where(records.c.status == "exported")).scalar_one() == 0
    # Back on the office (database reachable): the second run skips what is done and marks it exported.
    again = central_export.export_records(copy, out, identity=bio, station_verify_keys=station_keys,
                                          engine=office.engine, **span)
    assert again.exported == [] and sorted(again.already) == sorted(offline.exported)
    assert again.database_reachable and again.marked == 2
    statuses = {r["packet_id"]: r["status"] for r in list_records(office.engine, RecordFilter())[0]}
    assert statuses == {ids[0]: "exported", ids[1]: "verified", ids[2]: "exported"}


def test_nik_helper_matches_station_rules():
    from station.nik import parse_nik

    assert parse_nik(nik_for("61.06.17", date(1990, 3, 7), "P", 12)).sex == "P"
