"""A station roster (DESIGN §8) for the desa a team goes to next: residents of the list with no record yet.

The file is exactly what ``jemput roster import`` on a station reads (and what a provisioning bundle carries):
``nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat``, UTF-8, one resident a line, sorted by desa and name.
Names of the desa come with the station's own shipped kode wilayah list, so the kiosk shows "Jaras", not a code.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from office import refdata
from office.desa_stats import resident_recorded
from station.errors import JemputError
from station.roster import COLUMNS
from station.wilayah import InvalidKode, WilayahLevel, parse_kode


class RosterExportError(JemputError):
    """A desa code is malformed or not in this office's district."""


def parse_desa_list(text: str, district: str) -> list[str]:
    prefix = f"{district[:2]}.{district[2:]}."
    codes = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            code = parse_kode(part, level=WilayahLevel.DESA).text
        except InvalidKode as exc:
            raise RosterExportError(f"--desa {part!r}: {exc}") from None
        if not code.startswith(prefix):
            raise RosterExportError(f"--desa {code} is outside this office's district {prefix[:-1]}")
        codes.append(code)
    if not codes:
        raise RosterExportError("--desa needs at least one kode desa")
    return list(dict.fromkeys(codes))


def roster_rows(engine: sa.Engine, desa: list[str]) -> Iterator[tuple[str, ...]]:
    r = refdata.residents
    query = (sa.select(r.c.nik, r.c.nama, r.c.tanggal_lahir, r.c.jenis_kelamin, r.c.kode_desa, r.c.alamat)
             .where(r.c.kode_desa.in_(desa), ~sa.exists().where(resident_recorded.c.nik == r.c.nik))
             .order_by(r.c.kode_desa, r.c.nama, r.c.nik))
    with engine.connect() as conn:
        yield from (tuple(row) for row in conn.execute(query))


def roster_csv(engine: sa.Engine, desa: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in roster_rows(engine, desa):
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_roster(engine: sa.Engine, desa: list[str], out: Path) -> int:
    """Write the roster to ``out`` atomically; returns the number of residents."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        for chunk in roster_csv(engine, desa):
            handle.write(chunk)
            count += chunk.count("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)
    return count - 1
