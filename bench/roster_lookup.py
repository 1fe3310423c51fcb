"""Roster import speed and look-up latency on a 100,000-resident roster.

Prints import rows/s, then median and p95 latency of look-up by NIK and by name prefix (with and without a desa
filter), each against a plain primary-key SELECT measured in the same run as the baseline. The goal: every
look-up well under 10 ms on a Raspberry Pi, so the on-screen keyboard never waits for the database.

    .venv/bin/python bench/roster_lookup.py [--rows 100000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from station.nik import build_nik  # noqa: E402
from station.roster import find_by_nik, import_roster, search_by_name  # noqa: E402
from station.store import connect  # noqa: E402

GIVEN = ["Siti", "Budi", "Agus", "Dewi", "Nur", "Ahmad", "Rina", "Yohanes", "Maria", "Putu", "Wayan", "Fransiska",
         "Muhammad", "Sri", "Eko", "Dian", "Andi", "Yuliana", "Hendrik", "Ketut", "Made", "Ayu", "Rizky", "Fitri"]
FAMILY = ["Aminah", "Santoso", "Hidayat", "Lestari", "Saragih", "Sembiring", "Wijaya", "Ndruru", "Kurniawan",
          "Simanjuntak", "Pratama", "Rahmawati", "Setiawan", "Nainggolan", "Wulandari", "Susanti", "Gultom", "Sari"]
KECAMATAN = [f"61.06.{k:02d}" for k in range(1, 24)]


def write_roster(path: Path, rows: int, rnd: random.Random) -> list[tuple[str, str, str]]:
    """A realistic roster CSV; returns (nik, nama, kode_desa) of every row for drawing queries."""
    people, seen = [], set()
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n")
        while len(people) < rows:
            kec = rnd.choice(KECAMATAN)
            born = date(1940, 1, 1) + timedelta(days=rnd.randrange(365 * 66))
            sex = rnd.choice("LP")
            nik = build_nik(kec, born, sex, rnd.randrange(1, 10000))
            if nik in seen:
                continue
            seen.add(nik)
            nama = " ".join(rnd.sample(GIVEN, rnd.choice((1, 2))) + [rnd.choice(FAMILY)])
            desa = f"{kec}.{2000 + rnd.randrange(1, 15)}"
            fh.write(f"{nik},{nama},{born.isoformat()},{sex},{desa},RT {rnd.randrange(1, 20):02d}\n")
            people.append((nik, nama, desa))
    return people


def timed_ms(queries: list, run: Callable) -> list[float]:
    samples = []
    for query in queries:
        start = time.perf_counter()
        run(query)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    rnd = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="jemput-bench-") as tmp:
        csv_path = Path(tmp) / "roster.csv"
        people = write_roster(csv_path, args.rows, rnd)
        conn = connect(Path(tmp) / "data")
        start = time.perf_counter()
        report = import_roster(conn, csv_path)
        import_s = time.perf_counter() - start
        assert report.imported == args.rows, report.errors[:5]
        print(f"import: {report.imported} rows in {import_s:.2f} s = {report.imported / import_s:,.0f} rows/s")

        sample = [rnd.choice(people) for _ in range(args.lookups)]
        niks = [p[0] for p in sample]
        prefixes = [rnd.choice(p[1].split())[: rnd.randint(2, 5)] for p in sample]
        in_desa = [(rnd.choice(p[1].split())[:3], p[2]) for p in sample]

        baseline = timed_ms(niks, lambda n: conn.execute("SELECT * FROM residents WHERE nik = ?", (n,)).fetchone())
        cases = {
            "NIK look-up": timed_ms(niks, lambda n: find_by_nik(conn, n)),
            "name prefix (limit 20)": timed_ms(prefixes, lambda q: search_by_name(conn, q)),
            "name prefix in desa": timed_ms(in_desa, lambda q: search_by_name(conn, q[0], kode_desa=q[1])),
        }
        base_median, base_p95 = summary(baseline)
        print(f"{'baseline PK SELECT':<24} median {base_median:7.3f} ms  p95 {base_p95:7.3f} ms")
        for name, samples in cases.items():
            median, p95 = summary(samples)
            print(f"{name:<24} median {median:7.3f} ms  p95 {p95:7.3f} ms  "
                  f"({median / base_median:5.1f}x / {p95 / base_p95:5.1f}x baseline)  goal < 10 ms: "
                  f"{'yes' if p95 < 10 else 'NO'}")
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
