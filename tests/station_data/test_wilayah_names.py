"""Region names from the shipped national list."""

from __future__ import annotations

import csv
from pathlib import Path

from station.wilayah_names import iter_shipped_rows, label, region_name

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "wilayah-kemendagri.csv"


def test_names_at_every_level() -> None:
    assert region_name("61") == "Kalimantan Barat"
    assert region_name("61.06") == "Kabupaten Kapuas Hulu"
    assert region_name("61.06.17") == "Putussibau Selatan"
    assert region_name("61.06.17.2004") == "Jaras"
    assert region_name("6106172004") == "Jaras"  # undotted form too


def test_unknown_or_malformed_code_has_no_name_and_label_falls_back_to_the_code() -> None:
    assert region_name("61.06.99.2999") is None
    assert region_name("garbage") is None
    assert label("61.06.99.2999") == "61.06.99.2999"
    assert label("61.06.17.2004") == "Jaras"


def test_apostrophes_are_unescaped() -> None:
    names = [name for _, name in iter_shipped_rows() if "'" in name]
    assert names and not any("\\'" in name or "''" in name for name in names)


def test_shipped_list_counts_per_level() -> None:
    levels: dict[int, int] = {}
    for code, _ in iter_shipped_rows():
        depth = code.count(".") + 1
        levels[depth] = levels.get(depth, 0) + 1
    assert levels == {1: 38, 2: 514, 3: 7285, 4: 83762}


def test_shipped_list_matches_the_reference_file() -> None:
    if not SHARED.is_file():  # shared/ sits beside the checkout on developer machines and in CI
        raise AssertionError(f"reference data missing: {SHARED}")
    with SHARED.open(encoding="utf-8", newline="") as handle:
        reference = [tuple(row) for row in csv.reader(handle)][1:]
    assert list(iter_shipped_rows()) == reference
