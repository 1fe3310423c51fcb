"""Reference data the office counts against (DESIGN §11): region names, targets, residents, boundaries.

Each table row carries the ``source`` it came from (the shipped list, or the name given at import, by default the
file's name), so a re-import replaces exactly that source's rows in one transaction and leaves the others alone.
Codes are stored dotted (``61.06.17.2004``); ``kecamatan`` columns hold the first eight characters so coverage
groups by an indexed column instead of string functions that differ between SQLite and PostgreSQL.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from importlib import resources

import sqlalchemy as sa

from office.db import metadata
from station.wilayah_names import iter_shipped_rows

SHIPPED = "shipped"
BOUNDARY_FILES = ("boundaries-6106-kabupaten.geojson.gz", "boundaries-6106-kecamatan.geojson.gz",
                  "boundaries-6106-desa.geojson.gz")
SHIPPED_BOUNDARY_DISTRICT = "6106"

wilayah = sa.Table(
    "wilayah", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("kode", sa.String(13), primary_key=True),
    sa.Column("nama", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("parent", sa.String(13), nullable=False, index=True),
    sa.Index("ix_wilayah_kode", "kode"),
)

targets = sa.Table(
    "targets", metadata,
    sa.Column("kode", sa.String(13), primary_key=True),
    sa.Column("nama", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("kecamatan", sa.String(8), nullable=False, index=True),
    sa.Column("wajib_ktp", sa.Integer, nullable=False),
    sa.Column("sudah_rekam", sa.Integer, nullable=False),
    sa.Column("source", sa.String(64), nullable=False, index=True),
)

residents = sa.Table(
    "office_residents", metadata,
    sa.Column("nik", sa.String(16), primary_key=True),
    sa.Column("nama", sa.Text, nullable=False),
    sa.Column("tanggal_lahir", sa.String(10), nullable=False),
    sa.Column("jenis_kelamin", sa.String(1), nullable=False),
    sa.Column("kode_desa", sa.String(13), nullable=False, index=True),
    sa.Column("alamat", sa.Text, nullable=False, default=""),
    sa.Column("source", sa.String(64), nullable=False, index=True),
)

boundaries = sa.Table(
    "boundaries", metadata,
    sa.Column("kode", sa.String(13), primary_key=True),
    sa.Column("nama", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("parent", sa.String(13), nullable=False, index=True),
    sa.Column("label_lat", sa.Float),
    sa.Column("label_lng", sa.Float),
    sa.Column("geometry_json", sa.Text, nullable=False),
    sa.Column("source", sa.String(64), nullable=False, index=True),
)


def level_of(kode: str) -> int:
    return kode.count(".") + 1


def parent_of(kode: str) -> str:
    return kode.rsplit(".", 1)[0] if "." in kode else ""


def in_area(kecamatan_column: sa.ColumnElement, area: str) -> sa.ColumnElement:
    """Rows of a kecamatan (``PP.KK.CC``: equality on the indexed kecamatan column) or of a whole district
    (``PP.KK``: a LIKE prefix, on the small per-desa tables only). No range comparisons on codes: their order
    depends on the database collation (most locales ignore the dots)."""
    if area.count(".") == 2:
        return kecamatan_column == area
    return kecamatan_column.like(area + ".%")


def ensure_shipped_wilayah(engine: sa.Engine) -> int:
    """Load the national list shipped with the station package (once; later calls find it and return 0)."""
    with engine.connect() as conn:
        present = conn.execute(sa.select(sa.func.count()).select_from(wilayah)
                               .where(wilayah.c.source == SHIPPED)).scalar_one()
    if present:
        return 0
    from office.imports import import_wilayah

    return import_wilayah(engine, iter_shipped_rows(), source=SHIPPED).imported


def ensure_shipped_boundaries(engine: sa.Engine, district: str) -> int:
    """Kapuas Hulu's boundaries ship as package data; load them once for that district."""
    if district != SHIPPED_BOUNDARY_DISTRICT:
        return 0
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(boundaries)).scalar_one():
            return 0
    from office.boundary_import import import_boundaries

    total = 0
    for name in BOUNDARY_FILES:
        doc = json.loads(gzip.decompress(resources.files("office").joinpath("data", name).read_bytes()))
        total += import_boundaries(engine, doc, source=f"{SHIPPED}:{name}").imported
    return total


def names_for(engine: sa.Engine, codes: Iterable[str]) -> dict[str, str]:
    """Name per code: an imported name beats the shipped one; codes without a name are left out."""
    wanted = sorted(set(codes))
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = conn.execute(sa.select(wilayah.c.kode, wilayah.c.nama, wilayah.c.source)
                                .where(wilayah.c.kode.in_(chunk)))
            for kode, nama, source in rows:
                if source != SHIPPED or kode not in found:
                    found[kode] = nama
    return found


def children_of(engine: sa.Engine, parent: str) -> dict[str, str]:
    """Regions one level below ``parent`` (e.g. every desa of a kecamatan) with their names."""
    level = level_of(parent) + 1
    out: dict[str, str] = {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(wilayah.c.kode, wilayah.c.nama, wilayah.c.source)
                            .where(wilayah.c.parent == parent, wilayah.c.level == level))
        for kode, nama, source in rows:
            if source != SHIPPED or kode not in out:
                out[kode] = nama
    return dict(sorted(out.items()))


def known_codes(engine: sa.Engine, district: str) -> set[str]:
    """The district (``PP.KK``), its kecamatan and their desa from the wilayah tables: what imports check against."""
    with engine.connect() as conn:
        kecamatan = {r[0] for r in conn.execute(sa.select(wilayah.c.kode).where(wilayah.c.parent == district))}
        desa = {r[0] for r in conn.execute(sa.select(wilayah.c.kode).where(wilayah.c.parent.in_(sorted(kecamatan))))} \
            if kecamatan else set()
    return {district} | kecamatan | desa
