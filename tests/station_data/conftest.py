"""Fixtures for the station data layer: an open store and roster CSV builders."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from station.nik import build_nik
from station.store import connect

HEADER = "nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat"
KECAMATAN = ["61.06.01", "61.06.02", "61.06.03", "32.01.05"]
GIVEN = ["Siti", "Budi", "Agus", "Dewi", "Nur", "Ahmad", "Rina", "Yohanes", "Maria", "Putu", "Wayan", "Fransiska"]
FAMILY = ["Aminah", "Santoso", "Hidayat", "Lestari", "Saragih", "Sembiring", "Wijaya", "Ndruru", "Kurniawan"]


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(data_dir)
    yield connection
    connection.close()


def resident_row(serial: int, *, kec: str = "61.06.01", desa: str = "2001", born: date = date(1990, 5, 12),
                 sex: str = "P", nama: str = "Siti Aminah", alamat: str = "Dusun I") -> list[str]:
    """One valid roster row whose NIK agrees with its columns."""
    return [build_nik(kec, born, sex, serial), nama, born.isoformat(), sex, f"{kec}.{desa}", alamat]


def random_rows(count: int, seed: int = 1) -> Iterator[list[str]]:
    """Valid rows with distinct NIKs, varied names, places, dates and sexes."""
    rnd = random.Random(seed)
    seen: set[str] = set()
    for i in range(count):
        kec = KECAMATAN[i % len(KECAMATAN)]
        born = date(1940, 1, 1) + timedelta(days=rnd.randrange(0, 365 * 66))
        sex = rnd.choice("LP")
        nama = f"{rnd.choice(GIVEN)} {rnd.choice(FAMILY)} {i}"
        serial = 1 + rnd.randrange(9000)
        while (row := resident_row(serial, kec=kec, desa=f"{2001 + i % 5}", born=born, sex=sex, nama=nama,
                                   alamat=f"RT {i % 9:02d}"))[0] in seen:
            serial += 1
        seen.add(row[0])
        yield row


def write_csv(path: Path, rows: list[list[str]] | Iterator[list[str]], *, delimiter: str = ",",
              header: str = HEADER, bom: bool = False) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        fh.write(header.replace(",", delimiter) + "\r\n")
        for row in rows:
            fh.write(delimiter.join(row) + "\r\n")
    return path


@pytest.fixture
def kit() -> SimpleNamespace:
    """The row builders above, as a fixture (with --import-mode=importlib tests cannot import conftest)."""
    return SimpleNamespace(HEADER=HEADER, resident_row=resident_row, random_rows=random_rows, write_csv=write_csv)
