"""Roster import (streaming, bad rows reported by line, upsert) and look-up by NIK and name."""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.nik import build_nik
from station.roster import (
    Resident,
    RosterError,
    count_residents,
    find_by_nik,
    import_roster,
    name_search_sql,
    name_tokens,
    normalise_name,
    search_by_name,
    villages,
)
from station.store import connect

TODAY = date(2026, 6, 15)


def test_imports_good_rows_and_finds_them_by_nik(kit, conn, tmp_path):
    rows = [kit.resident_row(1), kit.resident_row(2, sex="L", nama="Budi  Santoso", alamat="")]
    report = import_roster(conn, kit.write_csv(tmp_path / "r.csv", rows), today=TODAY)
    assert (report.imported, report.skipped, report.errors) == (2, 0, [])
    found = find_by_nik(conn, rows[0][0])
    assert found == Resident(rows[0][0], "Siti Aminah", date(1990, 5, 12), "P", "61.06.01.2001", "Dusun I")
    assert find_by_nik(conn, rows[1][0]).nama == "Budi Santoso"  # spaces collapsed
    assert find_by_nik(conn, "6106015205909999") is None
    last = conn.execute("SELECT actor, action, detail_json FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    assert (last[0], last[1]) == ("system", "roster_imported") and '"imported":2' in last[2]


def test_bad_rows_are_reported_by_line_and_skipped(kit, conn, tmp_path):
    good = kit.resident_row(1)
    rows = [
        good,                                                              # line 2
        ["6106015205900001x", "A", "1990-05-12", "P", "61.06.01.2001", ""],  # 3 invalid NIK
        kit.resident_row(2)[:2] + ["1990-05-13"] + kit.resident_row(2)[3:],        # 4 birth date disagrees
        kit.resident_row(3)[:3] + ["L"] + kit.resident_row(3)[4:],                 # 5 sex disagrees
        kit.resident_row(4)[:4] + ["61.06.01.0000", "x"],                      # 6 bad kode_desa
        kit.resident_row(5)[:4] + ["61.06.02.2001", "x"],                      # 7 other kecamatan: warning
        kit.resident_row(6)[:5],                                               # 8 missing column
        good,                                                              # 9 duplicate NIK
        kit.resident_row(7)[:1] + [""] + kit.resident_row(7)[2:],                  # 10 empty nama
        kit.resident_row(8)[:2] + ["12 Mei 1990"] + kit.resident_row(8)[3:],       # 11 bad date
        kit.resident_row(9)[:3] + ["X"] + kit.resident_row(9)[4:],                 # 12 bad jenis_kelamin
        kit.resident_row(10, kec="61.06.03"),                                  # 13 good
    ]
    report = import_roster(conn, kit.write_csv(tmp_path / "r.csv", rows), today=TODAY)
    assert (report.imported, report.skipped) == (3, 9)
    reasons = {e.line: e.reason for e in report.errors}
    assert sorted(reasons) == [3, 4, 5, 6, 8, 9, 10, 11, 12]
    # A NIK keeps the kecamatan that issued it when its holder moves: imported, with a warning.
    assert [(w.line, "not in the NIK's kecamatan 61.06.01" in w.reason) for w in report.warnings] == [(7, True)]
    assert "invalid NIK" in reasons[3] and "angka" in reasons[3]
    assert "NIK birth date 12-05-90 disagrees with tanggal_lahir 1990-05-13" in reasons[4]
    assert "NIK says jenis_kelamin P, column says L" in reasons[5]
    assert "invalid kode_desa" in reasons[6]
    assert "missing columns: 5 of 6" in reasons[8]
    assert "duplicate NIK" in reasons[9] and "line 2" in reasons[9]
    assert "empty nama" in reasons[10]
    assert "invalid tanggal_lahir" in reasons[11]
    assert "invalid jenis_kelamin" in reasons[12]
    assert count_residents(conn) == 3


def test_invalid_nik_reason_names_the_part(kit, conn):
    bad = build_nik("61.06.01", date(1990, 5, 12), "P", 1)[:6] + "310290" + "0001"
    report = import_roster(conn, io.StringIO(kit.HEADER + "\n" + f"{bad},A,1990-02-28,L,61.06.01.2001,\n"), today=TODAY)
    assert "Tanggal lahir tidak valid (31-02) / Invalid birth date (31-02)" in report.errors[0].reason


def test_semicolons_bom_excel_dates_and_words(kit, conn, tmp_path):
    nik = build_nik("61.06.01", date(1985, 1, 3), "L", 12)
    path = kit.write_csv(tmp_path / "excel.csv", [[nik, "Yohanes Ndruru", "03/01/1985", "Laki-Laki", "6106012003",
                                              "Jl. Lintas Selatan, RT 02"]], delimiter=";", bom=True)
    report = import_roster(conn, path, today=TODAY)
    assert (report.imported, report.skipped) == (1, 0)
    found = find_by_nik(conn, nik)
    assert found.kode_desa == "61.06.01.2003" and found.jenis_kelamin == "L"
    assert found.tanggal_lahir == date(1985, 1, 3) and found.alamat == "Jl. Lintas Selatan, RT 02"


def test_stream_source_with_bom_and_column_order(conn):
    nik = build_nik("61.06.01", date(2001, 12, 31), "P", 3)
    text = "\ufeffNama,NIK,Kode_Desa,Tanggal_Lahir,Jenis_Kelamin,Alamat,extra\n" \
           f"Maria,{nik},61.06.01.2001,2001-12-31,P,,ignored\n"
    assert import_roster(conn, io.StringIO(text), today=TODAY).imported == 1
    assert find_by_nik(conn, nik).nama == "Maria"


def test_blank_rows_multiline_fields_and_line_numbers(kit, conn):
    text = (kit.HEADER + "\n" + ",".join(kit.resident_row(1)) + "\n\n,,,,,\n"
            + ",".join(kit.resident_row(2)[:5]) + ',"Dusun II\nRT 03"\n'
            + ",".join(kit.resident_row(3)[:2]) + ",bad,P,61.06.01.2001,\n")
    report = import_roster(conn, io.StringIO(text), today=TODAY)
    assert report.imported == 2
    assert [(e.line, e.reason.split(" ")[0]) for e in report.errors] == [(7, "invalid")]
    assert find_by_nik(conn, kit.resident_row(2)[0]).alamat == "Dusun II RT 03"


def test_undecodable_bytes_make_that_row_bad(kit, conn, tmp_path):
    path = tmp_path / "latin1.csv"
    rows = [kit.resident_row(1), kit.resident_row(2)[:1] + ["Andr\u00e9"] + kit.resident_row(2)[2:]]
    path.write_bytes((kit.HEADER + "\n" + "\n".join(",".join(r) for r in rows) + "\n").encode("latin-1"))
    report = import_roster(conn, path, today=TODAY)
    assert report.imported == 1 and report.errors[0].line == 3 and "UTF-8" in report.errors[0].reason


def test_century_comes_from_the_column(kit, conn):
    nik = build_nik("61.06.01", date(1920, 3, 4), "L", 1)  # "20" would read as 2020 from the NIK alone
    report = import_roster(conn, io.StringIO(f"{kit.HEADER}\n{nik},Kakek,1920-03-04,L,61.06.01.2001,\n"), today=TODAY)
    assert report.imported == 1 and find_by_nik(conn, nik).tanggal_lahir == date(1920, 3, 4)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("nik,nama,jenis_kelamin,kode_desa\n", r"lacks column\(s\) tanggal_lahir"),
])
def test_unusable_files_raise(conn, text, message):
    with pytest.raises(RosterError, match=message):
        import_roster(conn, io.StringIO(text))


def test_unreadable_path_raises(conn, tmp_path):
    with pytest.raises(RosterError, match="cannot read"):
        import_roster(conn, tmp_path / "missing.csv")
    with pytest.raises(RosterError, match="cannot read"):
        import_roster(conn, tmp_path)  # a directory


def test_reimport_upserts(kit, conn, tmp_path):
    first = [kit.resident_row(1, nama="Siti Aminah"), kit.resident_row(2, nama="Dewi Lestari")]
    import_roster(conn, kit.write_csv(tmp_path / "a.csv", first), today=TODAY)
    changed = [kit.resident_row(1, nama="Siti Rahmawati", desa="2002"), kit.resident_row(3, nama="Rina")]
    report = import_roster(conn, kit.write_csv(tmp_path / "b.csv", changed), today=TODAY)
    assert report.imported == 2 and count_residents(conn) == 3
    assert find_by_nik(conn, first[0][0]).nama == "Siti Rahmawati"
    assert search_by_name(conn, "aminah") == []
    assert [r.nik for r in search_by_name(conn, "rahma", kode_desa="61.06.01.2002")] == [first[0][0]]
    assert search_by_name(conn, "rahma", kode_desa="61.06.01.2001") == []
    assert villages(conn) == [("61.06.01.2001", 2), ("61.06.01.2002", 1)]


def test_progress_reports_batches_as_they_commit(kit, conn, data_dir, tmp_path):
    path = kit.write_csv(tmp_path / "r.csv", kit.random_rows(250))
    watcher = connect(data_dir)
    seen: list[tuple[int, int]] = []
    report = import_roster(conn, path, progress=lambda n: seen.append((n, count_residents(watcher))),
                           batch_rows=100, today=TODAY)
    watcher.close()
    assert report.imported == 250
    assert seen == [(100, 100), (200, 200), (250, 250)]  # each batch is committed before progress is told


# ------------------------------------------------------------------------------------------------ search


def test_normalisation():
    assert normalise_name("  SITI   Nur'Āminah ") == "siti nuraminah"
    assert normalise_name("Muh. Rizky-Pratama") == "muh rizky pratama"
    assert normalise_name("İbrahim Çelik") == "ibrahim celik"
    assert normalise_name("ＡＢＣ") == "abc"  # full-width letters (NFKD)
    assert name_tokens("siti nur aminah") == {"siti nur aminah", "nur aminah", "aminah"}


@pytest.fixture
def people(kit, conn):
    rows = [
        kit.resident_row(1, nama="Siti Nur Aminah"),
        kit.resident_row(2, nama="Nur'aini"),
        kit.resident_row(3, nama="Dewi Āminah", desa="2002"),
        kit.resident_row(4, nama="Ani Ani"),
        kit.resident_row(5, nama="Andreas Situmorang", sex="L"),
    ]
    import_roster(conn, io.StringIO(kit.HEADER + "\n" + "\n".join(",".join(r) for r in rows) + "\n"), today=TODAY)
    return {r[1]: r[0] for r in rows}


def names(results) -> list[str]:
    return [r.nama for r in results]


def test_prefix_of_full_name_or_any_later_word(conn, people):
    assert names(search_by_name(conn, "siti")) == ["Siti Nur Aminah"]
    assert names(search_by_name(conn, "SITI n")) == ["Siti Nur Aminah"]
    assert set(names(search_by_name(conn, "ami"))) == {"Siti Nur Aminah", "Dewi Āminah"}
    assert names(search_by_name(conn, "nur am")) == ["Siti Nur Aminah"]
    assert set(names(search_by_name(conn, "nur"))) == {"Siti Nur Aminah", "Nur'aini"}
    assert names(search_by_name(conn, "nuraini")) == ["Nur'aini"]
    assert set(names(search_by_name(conn, "sit"))) == {"Siti Nur Aminah", "Andreas Situmorang"}
    assert names(search_by_name(conn, "aminah siti")) == []
    assert names(search_by_name(conn, "tumorang")) == []  # not a word start


def test_accents_case_and_spaces_are_ignored(conn, people):
    assert set(names(search_by_name(conn, "  ĀMI  "))) == {"Siti Nur Aminah", "Dewi Āminah"}
    assert names(search_by_name(conn, "dewi   aminah")) == ["Dewi Āminah"]


def test_each_resident_once_and_limit(conn, people):
    assert names(search_by_name(conn, "ani")) == ["Ani Ani"]
    assert len(search_by_name(conn, "a", limit=2)) == 2
    assert search_by_name(conn, "a", limit=0) == []
    assert search_by_name(conn, "  '. ") == []


def test_limited_to_a_desa(conn, people):
    assert names(search_by_name(conn, "ami", kode_desa="61.06.01.2002")) == ["Dewi Āminah"]
    assert search_by_name(conn, "ami", kode_desa="61.06.01.2009") == []


@pytest.mark.parametrize("kode_desa", [None, "61.06.01.2001"])
def test_name_search_is_an_index_range_scan(conn, people, kode_desa):
    params = ([kode_desa] if kode_desa else []) + ["ami", "amj"]
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + name_search_sql(kode_desa), params))
    assert plan.startswith("SEARCH resident_name_tokens USING"), plan
    assert "token>? AND token<?" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # ORDER BY served by the index, so LIMIT stops early
    assert "LIKE" not in name_search_sql(kode_desa)


@pytest.mark.slow
def test_hundred_thousand_rows(kit, conn, tmp_path):
    rows = list(kit.random_rows(100_000, seed=7))
    path = kit.write_csv(tmp_path / "big.csv", iter(rows), delimiter=";")
    report = import_roster(conn, path, today=TODAY)
    assert (report.imported, report.skipped) == (100_000, 0)
    assert count_residents(conn) == 100_000
    for row in rows[::9973]:
        assert find_by_nik(conn, row[0]).nama == row[1]
        assert row[0] in [r.nik for r in search_by_name(conn, row[1], limit=5)]
    assert sum(count for _, count in villages(conn)) == 100_000


def test_import_memory_does_not_grow_with_the_file(kit, tmp_path, data_dir):
    """Streaming: the only per-row state kept during an import is the set of NIKs seen (to report duplicates
    within the file, ~120 bytes a row); holding the rows themselves would cost ~500 bytes a row or more."""
    import tracemalloc

    from station.store import connect

    peaks = []
    for count in (4_000, 40_000):
        path = kit.write_csv(tmp_path / f"r{count}.csv", kit.random_rows(count, seed=count))
        conn = connect(data_dir / str(count))
        tracemalloc.start()
        try:
            report = import_roster(conn, path, today=TODAY, batch_rows=1_000)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
            conn.close()
        assert report.imported == count
    per_row_bytes = (peaks[1] - peaks[0]) / 36_000
    assert per_row_bytes < 200, f"peak bytes {peaks} ({per_row_bytes:.0f} B/row): the import holds rows in memory"


def test_oversized_field_spoils_only_its_row(conn, kit):
    huge = "x" * 200_000  # over the csv module's field limit
    text = (kit.HEADER + "\n" + ",".join(kit.resident_row(1)) + "\n"
            + ",".join(kit.resident_row(2)[:5]) + ',"' + huge + '"\n' + ",".join(kit.resident_row(3)) + "\n")
    report = import_roster(conn, io.StringIO(text), today=TODAY)
    assert report.imported == 2
    assert [e.line for e in report.errors] == [3] and "unreadable CSV row" in report.errors[0].reason
    assert find_by_nik(conn, kit.resident_row(3)[0]) is not None


def test_strictly_decoded_stream_that_is_not_utf8_raises_roster_error(conn, kit, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((kit.HEADER + "\n" + ",".join(kit.resident_row(1, nama="Andr\u00e9")) + "\n").encode("latin-1"))
    with open(path, encoding="utf-8") as fh, pytest.raises(RosterError, match="not UTF-8"):
        import_roster(conn, fh, today=TODAY)


_FUZZ_ALPHABET = st.sampled_from(list("0123456789,;\"\n\r -/.LPabcĀ\ufeff\x00") + ["6106015205900001", "61.06.01.2001",
                                                                              "1990-05-12"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(body=st.lists(_FUZZ_ALPHABET, max_size=60).map("".join))
def test_garbage_after_a_header_never_crashes(conn, kit, body):
    try:
        report = import_roster(conn, io.StringIO(kit.HEADER + "\n" + body), today=TODAY)
    except RosterError:
        return
    assert report.skipped == len(report.errors)
    assert all(e.line >= 2 and e.reason for e in report.errors)
    assert report.imported <= count_residents(conn)
