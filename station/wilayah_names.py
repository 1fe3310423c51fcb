"""Names of regions by kode wilayah, from the national Kemendagri list shipped as package data.

Operators and office staff know "Jaras", not ``61.06.17.2004``. The list (~92,000 rows, 640 KB gzipped, see
``station/data/README.md`` for its source and MIT notice) is read once, on first use, into a dict; a code the list
does not know simply has no name, and callers show the code instead.
"""

from __future__ import annotations

import csv
import gzip
import io
import threading
from collections.abc import Iterator
from importlib import resources

from station.wilayah import InvalidKode, parse_kode

DATA_FILE = "wilayah-kemendagri.csv.gz"

_names: dict[str, str] | None = None
_lock = threading.Lock()


def iter_shipped_rows() -> Iterator[tuple[str, str]]:
    """``(kode, nama)`` for every row of the shipped list, in file order (the office imports it from here)."""
    raw = resources.files("station").joinpath("data", DATA_FILE).read_bytes()
    with io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw)), encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        header = next(reader)
        if header != ["kode_wilayah", "nama_wilayah"]:
            raise ValueError(f"{DATA_FILE}: unexpected header {header!r}")
        for row in reader:
            if len(row) == 2:
                yield row[0], row[1]


def _load() -> dict[str, str]:
    global _names
    with _lock:
        if _names is None:
            _names = dict(iter_shipped_rows())
        return _names


def region_name(code: str) -> str | None:
    """The name of the region with this dotted or undotted code, or None when it is unknown or malformed."""
    try:
        dotted = parse_kode(code).text
    except InvalidKode:
        return None
    return _load().get(dotted)


def label(code: str) -> str:
    """``"Jaras"`` for a known code, else the code itself: what a screen shows where a code would stand."""
    return region_name(code) or code
