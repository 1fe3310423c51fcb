"""Maps drawn on the server as SVG from the boundaries table: no tiles, no script, nothing from the internet.

A simple equirectangular projection scaled by cos(latitude) at the map's centre is exact enough for one district
(Kapuas Hulu spans ~2 degrees). Each region is a ``<path>`` filled by its percent recorded, inside an ``<a>`` that
opens its desa (kecamatan map) and carrying ``data-kode``/``data-percent`` for tests and assistive text. Colours are
presentation attributes, not CSS, so the page's strict Content-Security-Policy (no inline styles) holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape

import sqlalchemy as sa

from office import refdata

BUCKETS: tuple[tuple[float, str, str], ...] = (
    (50.0, "#d73027", "< 50 %"),
    (70.0, "#fc8d59", "50–70 %"),
    (85.0, "#fee08b", "70–85 %"),
    (95.0, "#d9ef8b", "85–95 %"),
    (101.0, "#1a9850", "≥ 95 %"),
)
NO_TARGET = ("#d0d0d0", "tanpa target / no target")


def colour_for(percent: float | None) -> str:
    if percent is None:
        return NO_TARGET[0]
    for upper, colour, _ in BUCKETS:
        if percent < upper:
            return colour
    return BUCKETS[-1][1]


@dataclass(frozen=True)
class Region:
    kode: str
    nama: str
    polygons: list
    """GeoJSON MultiPolygon coordinates: polygons -> rings -> [lng, lat]."""
    label: tuple[float, float] | None
    """(lat, lng)."""


def load_regions(engine: sa.Engine, parent: str) -> list[Region]:
    """The regions one level below ``parent`` that have boundaries (kecamatan of a district, desa of a kecamatan)."""
    b = refdata.boundaries
    with engine.connect() as conn:
        rows = conn.execute(sa.select(b.c.kode, b.c.nama, b.c.geometry_json, b.c.label_lat, b.c.label_lng)
                            .where(b.c.parent == parent).order_by(b.c.kode)).all()
    return [Region(k, n, json.loads(g), (lat, lng) if lat is not None else None) for k, n, g, lat, lng in rows]


def render_map(regions: Iterable[Region], percent: dict[str, float | None], *, names: dict[str, str] | None = None,
               href: Callable[[str], str] | None = None, width: int = 720, title: str = "",
               selected: str | None = None) -> str:
    """One SVG document: regions coloured by ``percent[kode]``, names at label points, a legend below."""
    regions = list(regions)
    if not regions:
        return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 60" role="img" class="map">'
                '<text x="10" y="35" font-size="14">Belum ada batas wilayah / no boundaries imported</text></svg>')
    points = [pt for r in regions for poly in r.polygons for ring in poly for pt in ring]
    min_lng, max_lng = min(p[0] for p in points), max(p[0] for p in points)
    min_lat, max_lat = min(p[1] for p in points), max(p[1] for p in points)
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    span_x, span_y = max((max_lng - min_lng) * kx, 1e-6), max(max_lat - min_lat, 1e-6)
    pad = 8
    scale = (width - 2 * pad) / span_x
    height = int(span_y * scale + 2 * pad)

    label_px = 11 if len(regions) > 12 else 13

    def xy(lng: float, lat: float) -> tuple[float, float]:
        return pad + (lng - min_lng) * kx * scale, pad + (max_lat - lat) * scale

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'class="map" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    labels = []
    for region in regions:
        value = percent.get(region.kode)
        nama = (names or {}).get(region.kode, region.nama)
        d = " ".join(_ring_path(ring, xy) for poly in region.polygons for ring in poly)
        text = f"{nama}: {'—' if value is None else f'{value:.1f} %'}"
        stroke, stroke_w = ("#000", "2.5") if region.kode == selected else ("#555", "0.8")
        path = (f'<path d="{d}" fill="{colour_for(value)}" stroke="{stroke}" stroke-width="{stroke_w}" '
                f'fill-rule="evenodd" data-kode="{region.kode}" '
                f'data-percent="{"" if value is None else f"{value:.2f}"}"><title>{escape(text)}</title></path>')
        if href:
            path = f'<a href="{escape(href(region.kode))}" aria-label="{escape(text)}">{path}</a>'
        out.append(path)
        if region.label:
            x, y = xy(region.label[1], region.label[0])
            labels.append(f'<text class="label" x="{x:.1f}" y="{y:.1f}" font-size="{label_px}" '
                          f'text-anchor="middle" fill="#111" '
                          f'stroke="#fff" stroke-width="3" paint-order="stroke" pointer-events="none">'
                          f'{escape(nama)}</text>')
    out.extend(labels)
    out.append("</svg>")
    return "".join(out) + legend_html()


def _ring_path(ring: list, xy: Callable[[float, float], tuple[float, float]]) -> str:
    parts, last = [], None
    for lng, lat, *_ in ring:
        x, y = xy(lng, lat)
        point = f"{x:.1f} {y:.1f}"
        if point != last:
            parts.append(point)
            last = point
    return "M" + " L".join(parts) + " Z"


def legend_html() -> str:
    """The legend as HTML beside the map (readable at any size; swatches are tiny SVGs, so no inline style)."""
    items = [(c, label) for _, c, label in BUCKETS] + [NO_TARGET]
    cells = "".join(f'<li><svg viewBox="0 0 22 14" width="22" height="14" aria-hidden="true"><rect width="22" '
                    f'height="14" fill="{c}" stroke="#555" stroke-width="1"/></svg>{escape(label)}</li>'
                    for c, label in items)
    return f'<ul class="legend" data-legend="1">{cells}</ul>'
