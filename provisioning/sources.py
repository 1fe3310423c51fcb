"""What the office puts into a bundle besides keys: operators (PINs hashed here), the roster, the desa names.

``roster_for_desa`` is the one place that decides where a station's roster comes from: the office database's
residents (``jemput office residents import``; table ``office_residents``) when that table exists and ``--roster``
is not given, otherwise the CSV given with ``--roster`` (filtered to the chosen desa). Either way the result is the
station roster CSV of DESIGN §8, the same bytes ``jemput office roster export`` writes.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from station import operators
from station.errors import JemputError
from station.wilayah_names import label

ROSTER_COLUMNS = ("nik", "nama", "tanggal_lahir", "jenis_kelamin", "kode_desa", "alamat")
OPERATOR_COLUMNS = ("username", "name", "role", "pin")
_DESA = re.compile(r"\d{2}\.\d{2}\.\d{2}\.\d{4}")


class SourceError(JemputError, ValueError):
    """An input file for a bundle is unusable; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Roster:
    csv_text: str
    rows: int
    source: str
    """``office database`` or the CSV's file name, for the build report."""


def parse_desa_codes(text: str, district: str) -> list[str]:
    """``61.06.01.2001,61.06.01.2002`` -> codes, each a desa of ``district`` (``6106``)."""
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise SourceError("--desa needs at least one kode desa, e.g. 61.06.01.2001")
    prefix = f"{district[:2]}.{district[2:]}."
    for code in codes:
        if not _DESA.fullmatch(code):
            raise SourceError(f"--desa {code!r} is not a kode desa (PP.KK.CC.DDDD, e.g. 61.06.01.2001)")
        if not code.startswith(prefix):
            raise SourceError(f"--desa {code} is not in district {district} (codes there start with {prefix})")
    return sorted(set(codes))


def desa_names(codes: list[str]) -> list[dict[str, str]]:
    """Names from the shipped national list, so the kiosk shows ``Desa X`` without asking anyone."""
    return [{"kode": code, "nama": label(code)} for code in codes]


def read_operators(path: Path) -> list[dict[str, str]]:
    """The operators CSV (``username,name,role,pin``) -> rows with the PIN replaced by its scrypt hash."""
    rows = _read_csv(path, OPERATOR_COLUMNS)
    seen: set[str] = set()
    out = []
    for line, row in rows:
        username, name, role, pin = (row[c].strip() for c in OPERATOR_COLUMNS)
        try:
            operators.check_operator_fields(username, name, role)
            operators.validate_pin(pin)
        except operators.OperatorError as exc:
            raise SourceError(f"{path}, line {line}: {exc}") from None
        if username in seen:
            raise SourceError(f"{path}, line {line}: operator {username!r} is listed twice")
        seen.add(username)
        out.append({"username": username, "name": name, "role": role, "pin_hash": operators.hash_pin(pin)})
    if not out:
        raise SourceError(f"{path}: no operators; a station nobody can log in to is of no use")
    return out


def roster_for_desa(engine: sa.Engine, desa: list[str], roster_csv: Path | None) -> Roster:
    """The roster of ``desa`` for the bundle: from ``roster_csv`` when given, else from the office database."""
    if roster_csv is not None:
        rows = [row for _line, row in _read_csv(roster_csv, ROSTER_COLUMNS) if row["kode_desa"].strip() in desa]
        return Roster(_roster_text(rows), len(rows), roster_csv.name)
    from office import refdata
    from office.roster_export import roster_rows

    with engine.connect() as conn:
        listed = conn.execute(sa.select(sa.func.count()).select_from(refdata.residents)
                              .where(refdata.residents.c.kode_desa.in_(desa))).scalar_one()
    if not listed:
        raise SourceError("the office database has no residents of " + ",".join(desa) + " (jemput office "
                          "residents import): give the roster with --roster CSV (columns "
                          + ",".join(ROSTER_COLUMNS) + ")")
    # The same rows as `jemput office roster export`: residents of those desa with no record received yet.
    rows = [dict(zip(ROSTER_COLUMNS, row, strict=True)) for row in roster_rows(engine, desa)]
    return Roster(_roster_text(rows), len(rows), "office database")


def _roster_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROSTER_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: (row.get(c) or "") for c in ROSTER_COLUMNS})
    return buffer.getvalue()


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text; save it as 'CSV UTF-8'") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)} (header must be {','.join(columns)})")
    rows = []
    for row in reader:
        if any(row.get(c) is None for c in columns):
            raise SourceError(f"{path}, line {reader.line_num}: too few fields")
        rows.append((reader.line_num, row))
    return rows
