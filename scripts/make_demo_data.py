"""Write the office's MADE-UP demo data for Kapuas Hulu (office/data/demo-*-6106-made-up.csv).

Per-kecamatan and per-desa wajib-KTP counts are not public, so these are invented (seeded, reproducible) and only
their totals are real: 169,067 wajib KTP and 155,769 recorded for the district (data of 5 January 2018, see
../shared/data/README.md), with Putussibau Selatan (more than 1,000 unrecorded), Kalis and Silat Hilir the least
recorded kecamatan, as the head of the Disdukcapil said. The residents list invents people for a few desa.

    python scripts/make_demo_data.py        # rewrites the two CSV files
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from station.wilayah_names import iter_shipped_rows  # noqa: E402

WAJIB_TOTAL, RECORDED_TOTAL = 169_067, 155_769
LEAST = {"61.06.17": 1_480, "61.06.18": 1_190, "61.06.15": 1_120}  # Putussibau Selatan, Kalis, Silat Hilir
RESIDENT_DESA_COUNT = {"61.06.17": 3, "61.06.18": 2}
RESIDENTS_PER_DESA = 24
OUT_DIR = ROOT / "office" / "data"
TARGETS_FILE = OUT_DIR / "demo-targets-6106-made-up.csv"
RESIDENTS_FILE = OUT_DIR / "demo-residents-6106-made-up.csv"
FIRST = {"L": ["Agus", "Yohanes", "Dedi", "Paulus", "Rudi", "Hendra", "Stefanus", "Bambang", "Antonius", "Ilham"],
         "P": ["Siti", "Maria", "Nur", "Lestari", "Theresia", "Aminah", "Yuliana", "Rosalia", "Wati", "Fransiska"]}
LAST = ["Saputra", "Rahayu", "Kurniawan", "Lawing", "Ningsih", "Jalung", "Hidayat", "Anyie", "Pratama", "Ayu",
        "Bujang", "Sari", "Tingang", "Wijaya", "Lenjau", "Utami"]


def split(total: int, weights: list[float]) -> list[int]:
    """``total`` in whole parts proportional to ``weights`` (largest remainder: the parts add up exactly)."""
    raw = [total * w / sum(weights) for w in weights]
    parts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)[: total - sum(parts)]:
        parts[i] += 1
    return parts


def regions() -> tuple[dict[str, str], dict[str, list[tuple[str, str]]]]:
    kecamatan: dict[str, str] = {}
    desa: dict[str, list[tuple[str, str]]] = {}
    for kode, nama in iter_shipped_rows():
        if kode.startswith("61.06.") and kode.count(".") == 2:
            kecamatan[kode] = nama
        elif kode.startswith("61.06.") and kode.count(".") == 3:
            desa.setdefault(kode[:8], []).append((kode, nama))
    return kecamatan, desa


def make_targets(rng: random.Random) -> list[tuple[str, str, int, int]]:
    kecamatan, desa = regions()
    all_desa = [d for k in sorted(desa) for d in desa[k]]
    wajib = split(WAJIB_TOTAL, [rng.uniform(250, 1100) for _ in all_desa])
    wajib_of = dict(zip([d[0] for d in all_desa], wajib, strict=True))
    kec_wajib = {k: sum(wajib_of[d] for d, _ in desa[k]) for k in kecamatan}
    others = [k for k in sorted(kecamatan) if k not in LEAST]
    unrecorded_left = WAJIB_TOTAL - RECORDED_TOTAL - sum(LEAST.values())
    kec_unrec = dict(LEAST) | dict(zip(others, split(unrecorded_left, [kec_wajib[k] * rng.uniform(0.75, 1.25)
                                                                          for k in others]), strict=True))
    rows: list[tuple[str, str, int, int]] = []
    for k in sorted(kecamatan):
        rows.append((k, kecamatan[k], kec_wajib[k], kec_wajib[k] - kec_unrec[k]))
        members = desa[k]
        unrec = split(kec_unrec[k], [wajib_of[d] * rng.uniform(0.5, 1.5) for d, _ in members])
        for (d, nama), u in zip(members, unrec, strict=True):
            u = min(u, wajib_of[d])
            rows.append((d, nama, wajib_of[d], wajib_of[d] - u))
    return rows


def check(rows: list[tuple[str, str, int, int]]) -> None:
    kec = [r for r in rows if r[0].count(".") == 2]
    des = [r for r in rows if r[0].count(".") == 3]
    assert len(kec) == 23 and len(des) == 282
    for level in (kec, des):
        assert sum(r[2] for r in level) == WAJIB_TOTAL and sum(r[3] for r in level) == RECORDED_TOTAL, "totals"
    least = sorted(kec, key=lambda r: r[3] / r[2])[:3]
    assert {r[0] for r in least} == set(LEAST), f"least recorded are {least}"
    assert dict((r[0], r[2] - r[3]) for r in kec)["61.06.17"] > 1000


def nik_for(kecamatan: str, born: date, sex: str, serial: int) -> str:
    day = born.day + (40 if sex == "P" else 0)
    return f"{kecamatan.replace('.', '')}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def make_residents(rng: random.Random) -> list[tuple[str, ...]]:
    _, desa = regions()
    rows, serial = [], 1
    for kec, count in RESIDENT_DESA_COUNT.items():
        for kode, nama_desa in desa[kec][:count]:
            for i in range(RESIDENTS_PER_DESA):
                sex = "P" if i % 2 else "L"
                born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 58))
                name = f"{rng.choice(FIRST[sex])} {rng.choice(LAST)}"
                rows.append((nik_for(kec, born, sex, serial), name, born.isoformat(), sex, kode,
                             f"Dusun {rng.randint(1, 4)}, RT {rng.randint(1, 9):02d}, {nama_desa}"))
                serial += 1
    return rows


def main() -> None:
    rng = random.Random(20180105)
    targets = make_targets(rng)
    check(targets)
    with open(TARGETS_FILE, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["kode_wilayah", "nama_wilayah", "wajib_ktp", "sudah_rekam"])
        writer.writerows(targets)
    with open(RESIDENTS_FILE, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["nik", "nama", "tanggal_lahir", "jenis_kelamin", "kode_desa", "alamat"])
        writer.writerows(make_residents(rng))
    print(f"wrote {TARGETS_FILE.name} ({len(targets)} rows) and {RESIDENTS_FILE.name}")


if __name__ == "__main__":
    main()
