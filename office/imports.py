"""Imports of the office's reference data: kode wilayah names, targets, residents and boundaries (DESIGN §11).

Every import streams its file in batches, so a 300,000-row residents list costs memory for the index of NIKs seen
(to report a repeated NIK by the line it first appeared on), not for the rows. A bad row is reported with its line
number and reason and skipped; the good rows are kept. An import replaces the rows of its ``source`` (by default
the file's name) in one transaction: a crash half-way leaves the previous import in place, and re-importing a
corrected file never leaves yesterday's rows behind.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from office import refdata
from station.errors import JemputError
from station.roster import COLUMNS as ROSTER_COLUMNS
from station.roster import REQUIRED_COLUMNS as ROSTER_REQUIRED
from station.roster import ImportReport, Resident, RowError, parse_roster_row
from station.wilayah import InvalidKode, WilayahLevel, parse_kode

BATCH_ROWS = 2000
TARGET_COLUMNS = ("kode_wilayah", "nama_wilayah", "wajib_ktp", "sudah_rekam")
WILAYAH_COLUMNS = ("kode_wilayah", "nama_wilayah")
MAX_ERRORS_KEPT = 1000
Progress = Callable[[int], None]
"""Called with the number of bytes (CSV) or features (GeoJSON) read so far."""


class ImportFileError(JemputError):
    """The file as a whole cannot be imported (unreadable, empty, wrong header); nothing was changed."""




@dataclass
class _Reader:
    """A CSV file opened for streaming, with its header's column positions and a byte counter for progress."""

    rows: Iterator[tuple[int, list[str]]]
    index: dict[str, int]
    width: int
    raw: BinaryIO


class _Counting(io.RawIOBase):
    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def _open_csv(path: Path, columns: tuple[str, ...], required: tuple[str, ...]) -> tuple[_Reader, _Counting]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through reader.raw
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    counter = _Counting(raw)
    text = io.TextIOWrapper(io.BufferedReader(counter, 64 * 1024), encoding="utf-8-sig", errors="replace",
                            newline="")
    header_line = text.readline()
    if not header_line.strip():
        raw.close()
        raise ImportFileError(f"{path.name} is empty (expected a header: {','.join(columns)})")
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    header = [h.strip().lower() for h in next(csv.reader([header_line], delimiter=delimiter))]
    missing = [c for c in required if c not in header]
    if missing:
        raw.close()
        raise ImportFileError(f"{path.name}: the header lacks column(s) {', '.join(missing)}; "
                              f"expected: {','.join(columns)}")
    index = {c: header.index(c) for c in columns if c in header}
    return _Reader(_numbered(text, delimiter), index, len(header), raw), counter


def _numbered(stream: io.TextIOBase, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Data rows with the line they start on (the header is line 1); blank rows dropped; a CSV error is a row."""
    reader = csv.reader(stream, delimiter=delimiter)
    previous_end = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            fields = [f"\x00{exc}"]
        start, previous_end = previous_end + 1, 1 + reader.line_num  # the header was line 1
        if any(f.strip() for f in fields):
            yield start, fields


class RowReport(ImportReport):
    def bad(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(RowError(line, reason))


def district_prefix(district: str) -> str:
    return f"{district[:2]}.{district[2:]}"


def check_region(text: str, known: set[str], prefix: str, level: WilayahLevel | None = None) -> str:
    """The dotted code, or raise ValueError with the reason it cannot be used here."""
    try:
        kode = parse_kode(text, level=level).text
    except InvalidKode as exc:
        raise ValueError(f"invalid kode_wilayah {text!r}: {exc}") from None
    if not kode.startswith(prefix):
        raise ValueError(f"kode_wilayah {kode} is outside this office's district {prefix}")
    if kode not in known:
        raise ValueError(f"unknown kode_wilayah {kode}: not in the kode wilayah list "
                         "(add it with 'jemput office wilayah import')")
    return kode


# -- wilayah -------------------------------------------------------------------------------------------------------

def import_wilayah(engine: sa.Engine, source_rows: Path | Iterable[tuple[str, str]], *, source: str | None = None,
                   progress: Progress | None = None) -> ImportReport:
    """Region names (``kode_wilayah,nama_wilayah``) from a CSV file or from ``(kode, nama)`` pairs."""
    counter: _Counting | None = None
    if isinstance(source_rows, str | Path):
        path = Path(source_rows)
        reader, counter = _open_csv(path, WILAYAH_COLUMNS, WILAYAH_COLUMNS)
        source = source or path.name
        k, n = reader.index["kode_wilayah"], reader.index["nama_wilayah"]
        numbered: Iterable[tuple[int, list[str]]] = ((ln, [f[k] if len(f) > k else "", f[n] if len(f) > n else ""])
                                                     for ln, f in reader.rows)
    else:
        reader = None
        numbered = ((i + 2, list(pair)) for i, pair in enumerate(source_rows))
    report, batch, seen = RowReport(), [], set()
    try:
        with engine.begin() as conn:
            conn.execute(refdata.wilayah.delete().where(refdata.wilayah.c.source == source))
            for line, (kode_text, nama) in numbered:
                try:
                    kode = parse_kode(kode_text).text
                except InvalidKode as exc:
                    report.bad(line, f"invalid kode_wilayah {kode_text!r}: {exc}")
                    continue
                nama = " ".join(nama.split())
                if not nama or "\ufffd" in nama:
                    report.bad(line, "empty or non-UTF-8 nama_wilayah")
                    continue
                if kode in seen:
                    report.bad(line, f"kode_wilayah {kode} appears twice")
                    continue
                seen.add(kode)
                batch.append({"source": source, "kode": kode, "nama": nama, "level": refdata.level_of(kode),
                              "parent": refdata.parent_of(kode)})
                if len(batch) >= BATCH_ROWS * 5:
                    report.imported += _flush(conn, refdata.wilayah, batch)
                    if progress:
                        progress(counter.count if counter else report.imported)
            report.imported += _flush(conn, refdata.wilayah, batch)
    finally:
        if reader is not None:
            reader.raw.close()
    if progress:
        progress(counter.count if counter else report.imported)
    return report


def _flush(conn: sa.Connection, table: sa.Table, batch: list[dict[str, Any]]) -> int:
    if not batch:
        return 0
    conn.execute(table.insert(), batch)
    count = len(batch)
    batch.clear()
    return count


# -- targets -------------------------------------------------------------------------------------------------------

def import_targets(engine: sa.Engine, path: Path, *, district: str, source: str | None = None,
                   progress: Progress | None = None) -> ImportReport:
    """§8 targets (``kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam``) for kecamatan and desa of the district."""
    path = Path(path)
    source = source or path.name
    prefix = district_prefix(district)
    known = refdata.known_codes(engine, prefix)
    reader, counter = _open_csv(path, TARGET_COLUMNS, TARGET_COLUMNS)
    report, batch, seen = RowReport(), [], {}
    try:
        with engine.begin() as conn:
            conn.execute(refdata.targets.delete().where(refdata.targets.c.source == source))
            for line, fields in reader.rows:
                try:
                    row = _target_row(fields, reader, known, prefix)
                except ValueError as exc:
                    report.bad(line, str(exc))
                    continue
                if row["kode"] in seen:
                    report.bad(line, f"kode_wilayah {row['kode']} appears twice (first on line {seen[row['kode']]})")
                    continue
                seen[row["kode"]] = line
                batch.append({**row, "source": source})
                if len(batch) >= BATCH_ROWS:
                    report.imported += replace_rows(conn, refdata.targets, "kode", batch)
                    if progress:
                        progress(counter.count)
            report.imported += replace_rows(conn, refdata.targets, "kode", batch)
    finally:
        reader.raw.close()
    if progress:
        progress(counter.count)
    return report


def _target_row(fields: list[str], reader: _Reader, known: set[str], prefix: str) -> dict[str, Any]:
    if fields and fields[0].startswith("\x00"):
        raise ValueError(f"unreadable CSV row: {fields[0][1:]}")
    if len(fields) < reader.width:
        raise ValueError(f"missing columns: {len(fields)} of {reader.width} fields")
    values = {c: fields[i].strip() for c, i in reader.index.items()}
    kode = check_region(values["kode_wilayah"], known, prefix)
    if refdata.level_of(kode) not in (3, 4):
        raise ValueError(f"kode_wilayah {kode}: targets are per kecamatan or desa")
    numbers = {}
    for column in ("wajib_ktp", "sudah_rekam"):
        text = values[column].replace(".", "").replace(",", "").replace(" ", "")
        if not text.isdigit():
            raise ValueError(f"{column} {values[column]!r} is not a whole number")
        numbers[column] = int(text)
    if numbers["sudah_rekam"] > numbers["wajib_ktp"]:
        raise ValueError(f"sudah_rekam {numbers['sudah_rekam']} is more than wajib_ktp {numbers['wajib_ktp']}")
    nama = " ".join(values["nama_wilayah"].split()) or kode
    return {"kode": kode, "nama": nama, "level": refdata.level_of(kode), "kecamatan": kode[:8], **numbers}


def replace_rows(conn: sa.Connection, table: sa.Table, key: str, batch: list[dict[str, Any]]) -> int:
    """Insert ``batch``, replacing rows with the same key from any other source (the newest import wins)."""
    if not batch:
        return 0
    conn.execute(table.delete().where(table.c[key].in_([r[key] for r in batch])))
    return _flush(conn, table, batch)


# -- residents -----------------------------------------------------------------------------------------------------

def import_residents(engine: sa.Engine, path: Path, *, district: str, source: str | None = None,
                     progress: Progress | None = None, today: date | None = None) -> ImportReport:
    """Unrecorded residents in the §8 roster format, checked as a station checks its roster, desa in district."""
    path = Path(path)
    source = source or path.name
    prefix = district_prefix(district)
    known = refdata.known_codes(engine, prefix)
    reader, counter = _open_csv(path, ROSTER_COLUMNS, ROSTER_REQUIRED)
    today = today or date.today()
    report, batch = RowReport(), []
    seen: dict[int, int] = {}  # NIK as an int -> first line: the index memory grows by
    try:
        with engine.begin() as conn:
            conn.execute(refdata.residents.delete().where(refdata.residents.c.source == source))
            for line, fields in reader.rows:
                parsed = parse_roster_row(fields, reader.index, reader.width, today)
                if isinstance(parsed, str):
                    report.bad(line, parsed)
                    continue
                try:
                    check_region(parsed.kode_desa, known, prefix, WilayahLevel.DESA)
                except ValueError as exc:
                    report.bad(line, str(exc).replace("kode_wilayah", "kode_desa"))
                    continue
                first = seen.setdefault(int(parsed.nik), line)
                if first != line:
                    report.bad(line, f"duplicate NIK {parsed.nik} (first on line {first})")
                    continue
                batch.append(_resident_row(parsed, source))
                if len(batch) >= BATCH_ROWS:
                    report.imported += replace_rows(conn, refdata.residents, "nik", batch)
                    if progress:
                        progress(counter.count)
            report.imported += replace_rows(conn, refdata.residents, "nik", batch)
    finally:
        reader.raw.close()
    if progress:
        progress(counter.count)
    return report


def _resident_row(resident: Resident, source: str) -> dict[str, Any]:
    return {"nik": resident.nik, "nama": resident.nama, "tanggal_lahir": resident.tanggal_lahir.isoformat(),
            "jenis_kelamin": resident.jenis_kelamin, "kode_desa": resident.kode_desa, "alamat": resident.alamat,
            "source": source}
