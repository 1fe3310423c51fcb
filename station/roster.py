"""The roster: residents a station has come to record, imported from the office's CSV, found by NIK or name.

The import streams the file (a kabupaten's roster can be 100,000+ rows on a Pi with 1 GB) and commits in batches;
a bad row is reported with its line number and reason and skipped, never stopping the good rows. Rows are checked
against their own NIK (birth date, sex, kecamatan), because a roster typed in a kantor desa carries typos and
a resident recorded under the wrong NIK is worse than one not recorded today.

Name search is for operators typing on a touch keyboard: case, accents, punctuation and extra spaces are ignored,
and a prefix matches the start of the full name or of any later word ("ami" finds "Siti Aminah"). Each word start
of the normalised name is a row in ``resident_name_tokens``, so a search is one index range scan.
"""

from __future__ import annotations

import csv
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from station.audit import append_audit
from station.errors import JemputError, StorageFull
from station.nik import InvalidNik, Nik, parse_nik
from station.store import transaction
from station.wilayah import InvalidKode, WilayahLevel, parse_kode

COLUMNS = ("nik", "nama", "tanggal_lahir", "jenis_kelamin", "kode_desa", "alamat")
REQUIRED_COLUMNS = COLUMNS[:5]
BATCH_ROWS = 5000
IMPORT_CACHE_KIB = 32 * 1024  # page cache while importing: random-order NIKs touch many index pages
_SEX_WORDS = {"L": "L", "LAKI-LAKI": "L", "LAKI LAKI": "L", "LAKI": "L", "PRIA": "L",
              "P": "P", "PEREMPUAN": "P", "WANITA": "P"}
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_DMY_DATE = re.compile(r"([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})")
_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02bc]")
_NOT_WORD = re.compile(r"[\W_]+")
_CSV_ERROR = "\x00csv-error:"
_SELECT = "SELECT nik, nama, tanggal_lahir, jenis_kelamin, kode_desa, alamat FROM residents"


class RosterError(JemputError):
    """The roster file as a whole cannot be used (unreadable, no header, missing columns)."""


@dataclass(frozen=True)
class Resident:
    nik: str
    nama: str
    tanggal_lahir: date
    jenis_kelamin: str
    kode_desa: str
    alamat: str


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    """Rows imported but worth a look, e.g. a resident living outside the kecamatan that issued their NIK."""


def normalise_name(text: str) -> str:
    """Search key: casefolded, accents and apostrophes dropped, other punctuation as spaces, spaces collapsed."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    plain = _NOT_WORD.sub(" ", _APOSTROPHES.sub("", plain))
    return " ".join(plain.split())


def name_tokens(key: str) -> set[str]:
    """Every word start of a normalised name: "siti nur aminah" -> itself, "nur aminah", "aminah"."""
    words = key.split(" ")
    return {" ".join(words[i:]) for i in range(len(words)) if words[i]}


# --------------------------------------------------------------------------------------------------- import


def import_roster(conn: sqlite3.Connection, source: Path | str | TextIO, *,
                  progress: Callable[[int], None] | None = None, today: date | None = None,
                  actor: str = "system", batch_rows: int = BATCH_ROWS) -> ImportReport:
    """Import (upsert) residents from a roster CSV; ``progress`` gets the number of data rows read so far.

    ``source`` is a path (read as UTF-8, with or without BOM; undecodable bytes make that row bad) or an open text
    stream. Raises ``RosterError`` only when the file as a whole is unusable; rows already committed stay.
    """
    with ExitStack() as stack:
        name = getattr(source, "name", "<stream>")
        if isinstance(source, str | Path):
            name = str(source)
            try:
                source = stack.enter_context(open(source, encoding="utf-8-sig", errors="replace", newline=""))
            except OSError as exc:
                raise RosterError(f"cannot read {name}: {exc.strerror or exc}") from exc
        cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
        try:
            report = _import_stream(conn, source, progress, today or date.today(), max(1, batch_rows))
        except StorageFull:
            raise
        except OSError as exc:
            raise RosterError(f"cannot read {name}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise RosterError(f"{name} is not UTF-8 text ({exc.reason}); save it as 'CSV UTF-8'") from exc
        finally:
            conn.execute(f"PRAGMA cache_size = {int(cache_size)}")
    append_audit(conn, actor, "roster_imported",
                 {"source": Path(name).name, "imported": report.imported, "skipped": report.skipped})
    return report


def _import_stream(conn: sqlite3.Connection, stream: TextIO, progress: Callable[[int], None] | None,
                   today: date, batch_rows: int) -> ImportReport:
    header_line = stream.readline().lstrip("\ufeff")
    if not header_line.strip():
        raise RosterError("the roster file is empty (expected a header: " + ",".join(COLUMNS) + ")")
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    header = [h.strip().lower() for h in next(csv.reader([header_line], delimiter=delimiter))]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RosterError(f"the header lacks column(s) {', '.join(missing)}; expected: {','.join(COLUMNS)}")
    index = {c: header.index(c) for c in COLUMNS if c in header}
    report, batch, rows_read = ImportReport(), [], 0
    seen: dict[str, int] = {}
    imported_at = datetime.now(UTC).isoformat(timespec="seconds")
    for line, fields in _numbered_rows(stream, delimiter):
        rows_read += 1
        result = _parse_row(fields, index, len(header), today)
        nik_text = fields[index["nik"]].strip() if len(fields) > index["nik"] else ""
        if isinstance(result, Resident) or len(nik_text) == 16:
            first = seen.setdefault(nik_text, line)
            if first != line and isinstance(result, Resident):
                result = f"duplicate NIK {nik_text} (first on line {first})"
        if isinstance(result, str):
            report.errors.append(RowError(line, result))
            report.skipped += 1
            continue
        moved = _moved_warning(result)
        if moved:
            report.warnings.append(RowError(line, moved))
        batch.append(result)
        if len(batch) >= batch_rows:
            report.imported += _store_batch(conn, batch, imported_at)
            batch = []
            if progress:
                progress(rows_read)
    report.imported += _store_batch(conn, batch, imported_at)
    if progress:
        progress(rows_read)
    return report


def _numbered_rows(stream: TextIO, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Data rows with the file line they start on (line 1 is the header); blank rows are dropped."""
    reader = csv.reader(stream, delimiter=delimiter)
    previous_end = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the size limit: that row is bad, the rest may be fine
            fields = [_CSV_ERROR + str(exc)]
        start, previous_end = previous_end + 2, reader.line_num
        if any(f.strip() for f in fields):
            yield start, fields


def parse_roster_row(fields: list[str], index: dict[str, int], width: int, today: date) -> Resident | str:
    """One roster CSV row checked as ``import_roster`` checks it (the office's residents import shares it)."""
    return _parse_row(fields, index, width, today)


def _parse_row(fields: list[str], index: dict[str, int], width: int, today: date) -> Resident | str:
    """A valid ``Resident`` or the reason the row is bad (first problem found)."""
    if fields and fields[0].startswith(_CSV_ERROR):
        return f"unreadable CSV row: {fields[0][len(_CSV_ERROR):]}"
    if len(fields) < width:
        return f"missing columns: {len(fields)} of {width} fields"
    values = {c: fields[i].strip() for c, i in index.items()}
    if any("\ufffd" in v for v in values.values()):
        return "text is not valid UTF-8 (save the file as 'CSV UTF-8')"
    empty = [c for c in REQUIRED_COLUMNS if not values[c]]
    if empty:
        return f"empty {', '.join(empty)}"
    try:
        nik = parse_nik(values["nik"], today=today)
    except InvalidNik as exc:
        return f"invalid NIK {values['nik']!r}: {exc}"
    born = _parse_date(values["tanggal_lahir"])
    if born is None or born > today:
        return f"invalid tanggal_lahir {values['tanggal_lahir']!r} (use YYYY-MM-DD)"
    sex = _SEX_WORDS.get(" ".join(values["jenis_kelamin"].upper().split()))
    if sex is None:
        return f"invalid jenis_kelamin {values['jenis_kelamin']!r} (use L or P)"
    try:
        desa = parse_kode(values["kode_desa"], level=WilayahLevel.DESA)
    except InvalidKode as exc:
        return f"invalid kode_desa {values['kode_desa']!r}: {exc}"
    return _cross_check(nik, born, sex, desa.text) or Resident(
        nik=nik.text, nama=" ".join(values["nama"].split()), tanggal_lahir=born, jenis_kelamin=sex,
        kode_desa=desa.text, alamat=" ".join(values.get("alamat", "").split()),
    )


def _cross_check(nik: Nik, born: date, sex: str, kode_desa: str) -> str:
    """The NIK's own birth date, sex and kecamatan must agree with the columns (the century comes from the column)."""
    if (nik.birth_date.day, nik.birth_date.month, nik.birth_date.year % 100) != (born.day, born.month,
                                                                                born.year % 100):
        return f"NIK birth date {nik.birth_date:%d-%m-%y} disagrees with tanggal_lahir {born.isoformat()}"
    if nik.sex != sex:
        return f"NIK says jenis_kelamin {nik.sex}, column says {sex}"
    return ""


def _moved_warning(resident: Resident) -> str:
    """A NIK keeps the kecamatan where it was issued when its holder moves, so a mismatch is only a warning:
    rejecting the row would leave a real resident impossible to find at the session."""
    nik_kecamatan = f"{resident.nik[0:2]}.{resident.nik[2:4]}.{resident.nik[4:6]}"
    if resident.kode_desa.startswith(nik_kecamatan + "."):
        return ""
    return f"kode_desa {resident.kode_desa} is not in the NIK's kecamatan {nik_kecamatan} (moved?); imported"


def _parse_date(text: str) -> date | None:
    match = _ISO_DATE.fullmatch(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DMY_DATE.fullmatch(text)
        if not match:
            return None
        day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _store_batch(conn: sqlite3.Connection, batch: list[Resident], imported_at: str) -> int:
    if not batch:
        return 0
    keys = [normalise_name(r.nama) for r in batch]
    with transaction(conn):
        conn.executemany(
            "INSERT INTO residents (nik, nama, nama_key, tanggal_lahir, jenis_kelamin, kode_desa, alamat,"
            " imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (nik) DO UPDATE SET nama = excluded.nama,"
            " nama_key = excluded.nama_key, tanggal_lahir = excluded.tanggal_lahir,"
            " jenis_kelamin = excluded.jenis_kelamin, kode_desa = excluded.kode_desa, alamat = excluded.alamat,"
            " imported_at = excluded.imported_at",
            [(r.nik, r.nama, k, r.tanggal_lahir.isoformat(), r.jenis_kelamin, r.kode_desa, r.alamat, imported_at)
             for r, k in zip(batch, keys, strict=True)],
        )
        conn.executemany("DELETE FROM resident_name_tokens WHERE nik = ?", [(r.nik,) for r in batch])
        conn.executemany(
            "INSERT INTO resident_name_tokens (token, nik, kode_desa) VALUES (?, ?, ?)",
            [(token, r.nik, r.kode_desa) for r, k in zip(batch, keys, strict=True) for token in name_tokens(k)],
        )
    return len(batch)


# --------------------------------------------------------------------------------------------------- look-up


def _resident(row: Iterable) -> Resident:
    nik, nama, tanggal_lahir, jenis_kelamin, kode_desa, alamat = row
    return Resident(nik, nama, date.fromisoformat(tanggal_lahir), jenis_kelamin, kode_desa, alamat)


def find_by_nik(conn: sqlite3.Connection, nik: str) -> Resident | None:
    row = conn.execute(_SELECT + " WHERE nik = ?", (nik.strip(),)).fetchone()
    return _resident(row) if row else None


def _after_prefix(key: str) -> str | None:
    """The smallest string greater than every string starting with ``key`` (UTF-8 order = code point order)."""
    last = ord(key[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000
    return key[:-1] + chr(last) if last <= 0x10FFFF else None


def name_search_sql(kode_desa: str | None) -> str:
    """The range query behind ``search_by_name`` (exposed so tests can check its plan uses an index)."""
    where = "kode_desa = ? AND " if kode_desa else ""
    return (f"SELECT nik FROM resident_name_tokens WHERE {where}token >= ? AND token < ?"
            " ORDER BY token, nik")


def search_by_name(conn: sqlite3.Connection, prefix: str, *, kode_desa: str | None = None,
                   limit: int = 20) -> list[Resident]:
    """Residents whose name (or a later word of it) starts with ``prefix``, ordered by the matched words."""
    key = normalise_name(prefix)
    if not key or limit <= 0:
        return []
    upper = _after_prefix(key) or "\U0010ffff" * 2
    params = ([kode_desa] if kode_desa else []) + [key, upper]
    niks: list[str] = []
    cursor = conn.execute(name_search_sql(kode_desa), params)
    try:
        for (nik,) in cursor:
            if nik not in niks:
                niks.append(nik)
                if len(niks) >= limit:
                    break
    finally:
        cursor.close()
    if not niks:
        return []
    rows = conn.execute(_SELECT + f" WHERE nik IN ({','.join('?' * len(niks))})", niks).fetchall()
    by_nik = {row[0]: _resident(row) for row in rows}
    return [by_nik[n] for n in niks if n in by_nik]


def villages(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(kode_desa, residents) for every desa in the roster, sorted by code."""
    rows = conn.execute("SELECT kode_desa, COUNT(*) FROM residents GROUP BY kode_desa ORDER BY kode_desa")
    return [(kode, count) for kode, count in rows]


def count_residents(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM residents").fetchone()[0]
