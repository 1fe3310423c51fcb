"""Demo data for ``jemput station run --simulate``: one operator and a small, generated roster.

Only used on an empty store in simulate mode, so a person trying the kiosk can log in and record someone at once.
The residents are invented (names from common Indonesian given names, NIKs built with ``station.nik.build_nik``
so they are valid), in two desa of one kecamatan of the station's district.
"""

from __future__ import annotations

import functools
import io
import random
from dataclasses import dataclass
from datetime import date

from station.nik import build_nik
from station.operators import add_operator, list_operators
from station.roster import import_roster

DEMO_USERNAME = "demo"
DEMO_PIN = "123456"
DEMO_DISPLAY_NAME = "Operator Demo"

_GIVEN_L = ("Agus", "Budi", "Dedi", "Eko", "Hendra", "Joko", "Rahmat", "Slamet", "Yusuf", "Bayu", "Andi", "Rudi")
_GIVEN_P = ("Siti", "Dewi", "Sri", "Rina", "Nur", "Ayu", "Fitri", "Wati", "Yuni", "Lestari", "Maria", "Indah")
_FAMILY = ("Aminah", "Santoso", "Wijaya", "Saputra", "Hidayat", "Lestari", "Kurniawan", "Pratama", "Rahayu",
           "Setiawan", "Nugroho", "Anggraini")
_STREETS = ("Jl. Lintas Utara", "Jl. Kapuas", "Dusun Sungai Uluk", "Dusun Nanga", "Jl. Merdeka", "RT 02 RW 01")


@dataclass(frozen=True)
class DemoInfo:
    username: str
    pin: str
    villages: tuple[str, ...]
    residents: int
    sample_niks: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def demo_villages(district: str) -> tuple[str, ...]:
    """The first two desa of kecamatan 01 in the shipped kode wilayah list (``6106`` -> Putussibau Kota and Hilir
    Kantor), so the demo shows real names; ``.2001`` / ``.2002`` when the list knows no desa there."""
    from station.wilayah_names import iter_shipped_rows

    prefix = f"{district[:2]}.{district[2:]}.01."
    found = [kode for kode, _ in iter_shipped_rows() if kode.startswith(prefix) and len(kode) == 13][:2]
    return tuple(found) if len(found) == 2 else (prefix + "2001", prefix + "2002")


def demo_roster_csv(district: str, per_village: int = 12, seed: int = 6106) -> str:
    """The roster CSV text (DESIGN §8 columns), deterministic for a seed."""
    rng = random.Random(seed)
    lines = ["nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat"]
    serial = 1
    for kode_desa in demo_villages(district):
        kecamatan = kode_desa[:8]
        for _ in range(per_village):
            sex = rng.choice("LP")
            born = date(rng.randint(1950, 2008), rng.randint(1, 12), rng.randint(1, 28))
            given = rng.choice(_GIVEN_L if sex == "L" else _GIVEN_P)
            name = f"{given} {rng.choice(_FAMILY)}"
            nik = build_nik(kecamatan, born, sex, serial)
            serial += 1
            lines.append(f"{nik},{name},{born.isoformat()},{sex},{kode_desa},{rng.choice(_STREETS)}")
    return "\n".join(lines) + "\n"


def seed_demo(conn, district: str, roster_text: str | None = None) -> DemoInfo | None:  # noqa: ANN001
    """Add the demo operator and roster if the store has no operator yet; None when it already had data.

    ``roster_text`` is a roster the office exported for this station (``jemput demo`` passes it); without it a
    small roster is generated."""
    if list_operators(conn):
        return None
    add_operator(conn, DEMO_USERNAME, DEMO_DISPLAY_NAME, DEMO_PIN, role="supervisor")
    text = roster_text if roster_text and roster_text.count("\n") > 1 else demo_roster_csv(district)
    report = import_roster(conn, io.StringIO(text), actor="demo")
    rows = [line.split(",") for line in text.splitlines()[1:]]
    niks = tuple(row[0] for row in rows[:3])
    villages = tuple(dict.fromkeys(row[4] for row in rows if len(row) > 4)) if roster_text else \
        demo_villages(district)
    return DemoInfo(DEMO_USERNAME, DEMO_PIN, villages, report.imported, niks)


def describe(info: DemoInfo) -> str:
    """What ``jemput station run --simulate`` prints on start."""
    return (
        f"Demo operator: {info.username} / PIN {info.pin}\n"
        f"Demo roster: {info.residents} residents in desa {', '.join(info.villages)}\n"
        f"Try NIK: {', '.join(info.sample_niks)}"
    )
