"""Coverage pages and planner at district scale: 1M received records and a 300,000-resident list.

For SQLite (a file, WAL) and PostgreSQL (a throw-away cluster from tests/pg_server.py), it fills the packets and
records tables with synthetic rows spread over Kapuas Hulu's 282 desa (3 % repeated NIKs), imports a residents
file through the real import, recounts ``desa_stats``, then times each query the pages run: district,
kecamatan, one kecamatan's desa, and the planner (p50/p95 over repeated calls; goal p95 < 300 ms). The baseline,
measured in the same run, is the naive query the counts replace: ``COUNT(DISTINCT nik)`` per desa over the whole
records table. It also prints the import rate of the national kode wilayah list (91,599 rows) and of the
residents file.

    .venv/bin/python bench/coverage_scale.py [--records N] [--residents N] [--repeat 30] [--no-pg | --no-sqlite]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from office import db, desa_stats, imports, refdata  # noqa: E402
from office.coverage import coverage_summary, desa_rows, kecamatan_rows  # noqa: E402
from office.planner import plan  # noqa: E402
from office.record_index import records  # noqa: E402
from station.wilayah_names import iter_shipped_rows  # noqa: E402

DISTRICT = "6106"


def nik_for(kecamatan: str, born: date, sex: str, serial: int) -> str:
    day = born.day + (40 if sex == "P" else 0)
    return f"{kecamatan.replace('.', '')}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def unique_nik(kode: str, i: int, sex: str) -> tuple[str, date]:
    """A distinct, valid NIK for each i (serial and birth date both vary with i), and the birth date."""
    rest = i // 9999
    born = date(1950 + rest % 50, 1 + (rest // 50) % 12, 1 + (rest // 600) % 28)
    return nik_for(kode[:8], born, sex, 1 + i % 9999), born


def desa_codes(engine: sa.Engine) -> list[str]:
    codes = []
    for kec in refdata.children_of(engine, "61.06"):
        codes += list(refdata.children_of(engine, kec))
    return codes


def fill_records(engine: sa.Engine, count: int, desa: list[str], rng: random.Random) -> None:
    with engine.begin() as conn:
        conn.execute(db.stations.insert().values(id="bench-01", district=DISTRICT, public_key_b64="x" * 44,
                                                 token_hash="0" * 64, created_at=db.utc_now(), active=True))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    batch_p, batch_r = [], []
    for i in range(count):
        kode = desa[i % len(desa)]
        nik, _ = unique_nik(kode, i, "L")
        if rng.random() < 0.03:
            nik = nik_for(kode[:8], date(1960, 1, 1), "L", 1 + rng.randrange(9999))
        at = start + timedelta(seconds=i * 15)
        pid = str(uuid.UUID(int=i + 1))
        batch_p.append({"packet_id": pid, "station_id": "bench-01", "sha256": "0" * 64, "size_bytes": 640_000,
                        "path": f"/nowhere/{pid}.jpk", "received_at": at, "receipt_json": "{}"})
        batch_r.append({"packet_id": pid, "station_id": "bench-01", "status": "verified", "nik": nik,
                        "nama": f"Warga {i}", "kode_desa": kode, "kecamatan": kode[:8], "session_id": f"s{i // 40}",
                        "session_desa": kode, "operator": "siti", "recorded_at": at, "day": at.date().isoformat(),
                        "received_at": at, "force_captured": 0, "exceptions": 0, "exception_reasons": "",
                        "duplicate_of": None})
        if len(batch_p) >= 20_000:
            _flush(engine, batch_p, batch_r)
    _flush(engine, batch_p, batch_r)


def _flush(engine: sa.Engine, batch_p: list, batch_r: list) -> None:
    if batch_p:
        with engine.begin() as conn:
            conn.execute(db.packets.insert(), batch_p)
            conn.execute(records.insert(), batch_r)
        batch_p.clear()
        batch_r.clear()


def residents_file(path: Path, count: int, desa: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n")
        for i in range(count):
            kode = desa[i % len(desa)]
            nik, born = unique_nik(kode, i, "P")
            handle.write(f"{nik},Warga {i},{born.isoformat()},P,"
                         f"{kode},Dusun {i % 9}\n")


def timed(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]


def run(label: str, url: str, args: argparse.Namespace, tmp: Path) -> None:
    engine = db.open_db(url)
    t0 = time.perf_counter()
    refdata.ensure_shipped_wilayah(engine)
    wilayah_s = time.perf_counter() - t0
    refdata.ensure_shipped_boundaries(engine, DISTRICT)
    desa = desa_codes(engine)
    rng = random.Random(1)
    t0 = time.perf_counter()
    fill_records(engine, args.records, desa, rng)
    fill_s = time.perf_counter() - t0
    path = tmp / f"residents-{label}.csv"
    residents_file(path, args.residents, desa)
    t0 = time.perf_counter()
    report = imports.import_residents(engine, path, district=DISTRICT, source="bench")
    residents_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    desa_stats.rebuild(engine)
    rebuild_s = time.perf_counter() - t0
    print(f"\n== {label}: {args.records:,} records, {report.imported:,} residents "
          f"({report.skipped} rows skipped)")
    print(f"  import national wilayah list: {91_599 / wilayah_s:,.0f} rows/s ({wilayah_s:.1f} s)")
    print(f"  import residents file:        {report.imported / residents_s:,.0f} rows/s ({residents_s:.1f} s)")
    print(f"  (fill records {fill_s:.1f} s; recount desa_stats {rebuild_s:.1f} s)")
    today = date(2026, 12, 3)
    now = datetime(2026, 12, 3, tzinfo=UTC)
    cases = {
        "coverage district (page header)": lambda: coverage_summary(engine, DISTRICT, today),
        "coverage kecamatan": lambda: kecamatan_rows(engine, DISTRICT),
        "coverage desa of 61.06.17": lambda: desa_rows(engine, DISTRICT, "61.06.17"),
        "planner (282 desa)": lambda: plan(engine, DISTRICT, now, (0.8363, 112.9311)),
    }
    worst = 0.0
    for name, fn in cases.items():
        p50, p95 = timed(fn, args.repeat)
        worst = max(worst, p95)
        print(f"  {name:34s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {'ok' if p95 < 300 else 'OVER 300 ms'}")
    naive = (sa.select(records.c.kode_desa, sa.func.count(sa.distinct(records.c.nik)))
             .where(records.c.status == "verified").group_by(records.c.kode_desa))

    def baseline() -> None:
        with engine.connect() as conn:
            conn.execute(naive).all()

    b50, b95 = timed(baseline, max(3, args.repeat // 10))
    print(f"  baseline COUNT(DISTINCT nik) per desa over records: p50 {b50:.1f} ms  p95 {b95:.1f} ms")
    print(f"  ratio baseline p95 / worst page p95: {b95 / worst:.1f}x")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--residents", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jemput-cov-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.no_sqlite:
            run("SQLite", f"sqlite:///{tmp / 'office.db'}", args, tmp)
        if not args.no_pg:
            sys.path.insert(0, str(ROOT / "tests"))
            from pg_server import postgres_server

            with postgres_server() as url:
                run("PostgreSQL", url, args, tmp)
    assert list(iter_shipped_rows())  # the shipped list is readable (what init imports)


if __name__ == "__main__":
    main()
