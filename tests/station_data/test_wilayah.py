"""Kode wilayah parsing and formatting."""

from __future__ import annotations

import pytest

from station.wilayah import PROVINCES, InvalidKode, KodeWilayah, WilayahLevel, format_kode, parse_kode


def test_the_38_provinces():
    assert len(PROVINCES) == 38
    assert PROVINCES["61"] == "Kalimantan Barat"
    assert PROVINCES["96"] == "Papua Barat Daya"
    assert min(PROVINCES) == "11" and max(PROVINCES) == "96"
    assert "20" not in PROVINCES and "97" not in PROVINCES


@pytest.mark.parametrize(
    ("text", "level", "dotted"),
    [
        ("61", WilayahLevel.PROVINSI, "61"),
        ("61.06", WilayahLevel.KABUPATEN, "61.06"),
        ("61.06.01", WilayahLevel.KECAMATAN, "61.06.01"),
        ("61.06.01.2001", WilayahLevel.DESA, "61.06.01.2001"),
        ("6106012001", WilayahLevel.DESA, "61.06.01.2001"),
        (" 610601 ", WilayahLevel.KECAMATAN, "61.06.01"),
    ],
)
def test_levels_and_dotted_form(text, level, dotted):
    kode = parse_kode(text)
    assert kode.level is level
    assert kode.text == dotted == str(kode)


def test_parts_and_truncation():
    kode = parse_kode("61.06.01.2001")
    assert (kode.province, kode.regency, kode.district, kode.village) == ("61", "06", "01", "2001")
    assert kode.province_name == "Kalimantan Barat"
    assert kode.truncate(WilayahLevel.KECAMATAN) == KodeWilayah("61", "06", "01")
    assert parse_kode("61.06").contains(kode)
    assert not parse_kode("61.07").contains(kode)
    assert not kode.contains(parse_kode("61.06"))
    with pytest.raises(ValueError):
        parse_kode("61.06").truncate(WilayahLevel.DESA)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("99.06.01.2001", "Kode provinsi tidak dikenal (99) / Unknown province code (99)"),
        ("61.00", "Kode kabupaten/kota tidak boleh nol"),
        ("61.06.00", "kecamatan"),
        ("61.06.01.0000", "desa/kelurahan"),
        ("61.6.01", "Format kode wilayah salah"),
        ("61.06.01.201", "PP.KK.CC.DDDD"),
        ("6106012", "Format"),
        ("", "Format"),
        ("61-06-01", "Format"),
    ],
)
def test_bad_codes_are_refused_with_a_reason(text, fragment):
    with pytest.raises(InvalidKode) as caught:
        parse_kode(text)
    assert fragment in str(caught.value)


def test_required_level():
    assert parse_kode("61.06.01.2001", level=WilayahLevel.DESA).village == "2001"
    with pytest.raises(InvalidKode, match="bukan tingkat desa / .* is not at desa level"):
        parse_kode("61.06.01", level=WilayahLevel.DESA)


def test_format_kode():
    assert format_kode("61", "06", "01", "2001") == "61.06.01.2001"
    with pytest.raises(InvalidKode):
        format_kode("10", "06")
