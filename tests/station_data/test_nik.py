"""NIK parsing: each rejected part is named, and generated NIKs round-trip (hypothesis)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from station.nik import SPANS, InvalidNik, build_nik, format_nik, parse_nik
from station.wilayah import PROVINCES

TODAY = date(2026, 6, 15)


def test_parses_a_womans_nik():
    nik = parse_nik("6106015205900001", today=TODAY)
    assert (nik.province, nik.regency, nik.district) == ("61", "06", "01")
    assert nik.kode_kecamatan == "61.06.01"
    assert nik.birth_date == date(1990, 5, 12)
    assert nik.sex == "P"
    assert nik.serial == "0001"
    assert format_nik(nik.text) == "610601 520590 0001"


def test_parses_a_mans_nik_born_this_century():
    nik = parse_nik("3201050107080123", today=TODAY)
    assert nik.birth_date == date(2008, 7, 1)
    assert nik.sex == "L"


@pytest.mark.parametrize(
    ("text", "part", "message"),
    [
        ("610601520590001", "length", "NIK harus 16 digit (ada 15) / NIK must be 16 digits long (got 15)"),
        ("61060152059000012", "length", "NIK harus 16 digit (ada 17)"),
        ("", "length", "(ada 0)"),
        ("6106015205 900001", "digits", "NIK hanya boleh berisi angka 0-9 / NIK must contain only the digits 0-9"),
        ("6106015205900001\n", "digits", "angka"),
        ("610601520590000١", "digits", "angka"),  # Arabic-Indic digit one: not an ASCII digit
        ("9906015205900001", "province", "Kode provinsi tidak dikenal (99) / Unknown province code (99)"),
        ("2006015205900001", "province", "(20)"),
        ("6100015205900001", "regency", "Kode kabupaten/kota tidak boleh 00"),
        ("6106005205900001", "district", "Kode kecamatan tidak boleh 00"),
        ("6106013102900001", "birth_date", "Tanggal lahir tidak valid (31-02) / Invalid birth date (31-02)"),
        ("6106017102900001", "birth_date", "Tanggal lahir tidak valid (31-02)"),  # woman, 31 Feb
        ("6106010005900001", "birth_date", "(00-05)"),
        ("6106013205900001", "birth_date", "(32-05)"),
        ("6106014005900001", "birth_date", "(40-05)"),
        ("6106017205900001", "birth_date", "(72-05)"),
        ("6106011213900001", "birth_date", "(12-13)"),
        ("6106012902010001", "birth_date", "(29-02)"),  # 2001 and 1901 are not leap years
        ("6106015205900000", "serial", "Nomor urut tidak boleh 0000 / Serial number must not be 0000"),
    ],
)
def test_rejections_name_the_wrong_part(text, part, message):
    with pytest.raises(InvalidNik) as caught:
        parse_nik(text, today=TODAY)
    assert caught.value.part == part
    assert caught.value.span == SPANS[part]
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_non_string_is_rejected_as_digits():
    with pytest.raises(InvalidNik) as caught:
        parse_nik(6106015205900001, today=TODAY)  # type: ignore[arg-type]
    assert caught.value.part == "digits"


def test_future_birth_year_belongs_to_previous_century():
    assert parse_nik("6106011205300001", today=TODAY).birth_date == date(1930, 5, 12)
    assert parse_nik("6106011205260001", today=TODAY).birth_date == date(2026, 5, 12)
    assert parse_nik("6106011207260001", today=TODAY).birth_date == date(1926, 7, 12)  # later this year
    assert parse_nik("6106011205300001", today=date(2031, 1, 1)).birth_date == date(2030, 5, 12)


def test_29_february_2000_versus_1900():
    assert parse_nik("6106012902000001", today=TODAY).birth_date == date(2000, 2, 29)
    with pytest.raises(InvalidNik) as caught:  # before 2000 the only candidate is 1900, which had no 29 Feb
        parse_nik("6106012902000001", today=date(1999, 1, 1))
    assert caught.value.part == "birth_date"


def test_age_and_wajib_ktp():
    nik = parse_nik(build_nik("61.06.01", date(2009, 6, 16), "L", 7), today=TODAY)
    assert nik.age_on(date(2026, 6, 15)) == 16
    assert nik.age_on(date(2026, 6, 16)) == 17
    assert not nik.wajib_ktp(date(2026, 6, 15))
    assert nik.wajib_ktp(date(2026, 6, 15), married=True)
    assert nik.wajib_ktp(date(2026, 6, 16))


def test_leap_day_birthday_ages_on_first_of_march():
    nik = parse_nik(build_nik("61.06.01", date(2008, 2, 29), "P", 1), today=TODAY)
    assert nik.age_on(date(2025, 2, 28)) == 16
    assert nik.age_on(date(2025, 3, 1)) == 17


# ---------------------------------------------------------------------------------------------- properties


@st.composite
def valid_facts(draw):
    """(today, kecamatan, birth date, sex, serial) such that the NIK must parse back to exactly these facts."""
    today = draw(st.dates(min_value=date(1950, 1, 1), max_value=date(2099, 12, 31)))
    try:
        earliest = date(today.year - 100, today.month, today.day) + timedelta(days=1)
    except ValueError:  # 29 Feb with no 29 Feb a century earlier
        earliest = date(today.year - 100, 3, 1)
    born = draw(st.dates(min_value=earliest, max_value=today))
    kec = f"{draw(st.sampled_from(sorted(PROVINCES)))}.{draw(st.integers(1, 99)):02d}.{draw(st.integers(1, 99)):02d}"
    return today, kec, born, draw(st.sampled_from(["L", "P"])), draw(st.integers(1, 9999))


@given(valid_facts())
def test_every_valid_nik_parses_back_to_its_fields(facts):
    today, kec, born, sex, serial = facts
    text = build_nik(kec, born, sex, serial)
    nik = parse_nik(text, today=today)
    assert nik.text == text
    assert nik.kode_kecamatan == kec
    assert nik.birth_date == born
    assert nik.sex == sex
    assert nik.serial == f"{serial:04d}"
    assert 0 <= nik.age_on(today) <= 100


@given(valid_facts())
def test_womens_day_offset_round_trips(facts):
    today, kec, born, _, serial = facts
    woman, man = build_nik(kec, born, "P", serial), build_nik(kec, born, "L", serial)
    assert int(woman[6:8]) == born.day + 40
    assert int(man[6:8]) == born.day
    assert woman[8:] == man[8:] and woman[:6] == man[:6]
    assert parse_nik(woman, today=today).birth_date == parse_nik(man, today=today).birth_date == born
    assert (parse_nik(woman, today=today).sex, parse_nik(man, today=today).sex) == ("P", "L")


_SIXTEEN_DIGITS = re.compile(r"[0-9]{16}")


@given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789", max_size=40)))
def test_anything_not_sixteen_digits_is_rejected_as_length_or_digits(text):
    if _SIXTEEN_DIGITS.fullmatch(text):
        return
    with pytest.raises(InvalidNik) as caught:
        parse_nik(text, today=TODAY)
    assert caught.value.part in ("length", "digits")


@given(st.one_of(st.text(max_size=24), st.from_regex(_SIXTEEN_DIGITS, fullmatch=True),
                 st.binary(max_size=20), st.integers(), st.none()),
       st.dates(min_value=date(1901, 1, 1)))
def test_no_input_raises_anything_but_invalid_nik(value, today):
    try:
        nik = parse_nik(value, today=today)
    except InvalidNik as exc:
        assert exc.part in SPANS
        assert " / " in str(exc)
        return
    assert build_nik(nik.kode_kecamatan, nik.birth_date, nik.sex, nik.serial) == value
    assert nik.birth_date <= today
