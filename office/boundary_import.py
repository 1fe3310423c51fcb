"""Import of kecamatan/desa boundaries (GeoJSON) for the server-drawn maps and the planner's distances.

A GeoJSON ``FeatureCollection`` of Polygon/MultiPolygon features with ``kode_wilayah`` (and ``nama_wilayah``,
``lat``/``lng`` of a label point) in their properties. As with the CSV imports, a bad feature is reported by its
number and skipped, and the rows of the import's ``source`` are replaced in one transaction.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from office import refdata
from office.imports import ImportFileError, Progress, RowReport, check_region, district_prefix, replace_rows
from station.roster import ImportReport
from station.wilayah import InvalidKode, parse_kode

MAX_GEOJSON_BYTES = 64 * 1024 * 1024

def read_geojson(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_GEOJSON_BYTES:
            raise ImportFileError(f"{path.name} is {size} bytes, over the {MAX_GEOJSON_BYTES}-byte limit")
        with open(path, "rb") as handle:
            return json.load(handle)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImportFileError(f"{path.name} is not JSON: {exc}") from exc


def import_boundaries(engine: sa.Engine, doc: dict[str, Any] | Path, *, source: str | None = None,
                      district: str | None = None, progress: Progress | None = None) -> ImportReport:
    """A GeoJSON ``FeatureCollection`` of Polygon/MultiPolygon features with ``kode_wilayah`` (and optionally
    ``nama_wilayah``, ``lat``, ``lng`` of a label point) in their properties. Bad features are reported as
    "line" = feature number (1-based) and skipped."""
    if isinstance(doc, str | Path):
        source = source or Path(doc).name
        doc = read_geojson(Path(doc))
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
            doc.get("features"), list):
        raise ImportFileError("not a GeoJSON FeatureCollection")
    source = source or "boundaries"
    prefix = district_prefix(district) if district else ""
    known = refdata.known_codes(engine, prefix) if prefix else None
    report, batch, seen = RowReport(), [], set()
    with engine.begin() as conn:
        conn.execute(refdata.boundaries.delete().where(refdata.boundaries.c.source == source))
        for number, feature in enumerate(doc["features"], start=1):
            try:
                row = _boundary_row(feature, known, prefix)
            except ValueError as exc:
                report.bad(number, f"feature {number}: {exc}")
                continue
            if row["kode"] in seen:
                report.bad(number, f"feature {number}: kode_wilayah {row['kode']} appears twice")
                continue
            seen.add(row["kode"])
            batch.append({**row, "source": source})
            if len(batch) >= 200:
                report.imported += replace_rows(conn, refdata.boundaries, "kode", batch)
                if progress:
                    progress(number)
        report.imported += replace_rows(conn, refdata.boundaries, "kode", batch)
    if progress:
        progress(len(doc["features"]))
    return report


def _boundary_row(feature: Any, known: set[str] | None, prefix: str) -> dict[str, Any]:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise ValueError("not a Feature with properties")
    props, geometry = feature["properties"], feature.get("geometry")
    kode_text = props.get("kode_wilayah")
    if not isinstance(kode_text, str):
        raise ValueError("properties.kode_wilayah is missing")
    if known is not None:
        kode = check_region(kode_text, known, prefix)
    else:
        try:
            kode = parse_kode(kode_text).text
        except InvalidKode as exc:
            raise ValueError(f"invalid kode_wilayah {kode_text!r}: {exc}") from None
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"{kode}: geometry must be a Polygon or MultiPolygon")
    polygons = geometry.get("coordinates")
    polygons = [polygons] if geometry["type"] == "Polygon" else polygons
    if not isinstance(polygons, list) or not polygons:
        raise ValueError(f"{kode}: no coordinates")
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise ValueError(f"{kode}: a polygon has no rings")
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4 or not all(_is_point(p) for p in ring):
                raise ValueError(f"{kode}: a ring must have at least 4 [lng, lat] points in range")
    lat, lng = props.get("lat"), props.get("lng")
    if not (_number(lat) and _number(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        lat, lng = _ring_centre(polygons[0][0])
    nama = props.get("nama_wilayah") if isinstance(props.get("nama_wilayah"), str) else kode
    return {"kode": kode, "nama": nama, "level": refdata.level_of(kode), "parent": refdata.parent_of(kode),
            "label_lat": float(lat), "label_lng": float(lng),
            "geometry_json": json.dumps(polygons, separators=(",", ":"))}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_point(point: Any) -> bool:
    return (isinstance(point, list) and len(point) >= 2 and _number(point[0]) and _number(point[1])
            and -180 <= point[0] <= 180 and -90 <= point[1] <= 90)


def _ring_centre(ring: list[list[float]]) -> tuple[float, float]:
    """Mean of a ring's points as (lat, lng): a label point when the file gives none."""
    return sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring)
