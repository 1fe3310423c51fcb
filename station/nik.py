"""NIK (Nomor Induk Kependudukan): parse, validate and derive facts from the 16-digit number.

Layout ``PPKKCC DDMMYY SSSS``: kode kecamatan of issue, birth date (women have 40 added to the day), serial.
Operators type NIKs on a keypad in a village hall, so every rejection says *which part* is wrong, in Indonesian
and English, and carries ``part`` and ``span`` so the UI can highlight the offending digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from station.wilayah import PROVINCES

NIK_LENGTH = 16
WOMEN_DAY_OFFSET = 40
WAJIB_KTP_AGE = 17

# Which digits each part occupies (start, end), for highlighting.
SPANS: dict[str, tuple[int, int]] = {
    "length": (0, NIK_LENGTH),
    "digits": (0, NIK_LENGTH),
    "province": (0, 2),
    "regency": (2, 4),
    "district": (4, 6),
    "birth_date": (6, 12),
    "serial": (12, 16),
}

_ASCII_DIGITS = re.compile(r"[0-9]*")

Sex = Literal["L", "P"]


class InvalidNik(ValueError):
    """A NIK that cannot be right. ``part`` is one of SPANS' keys; ``span`` the digit positions to highlight."""

    def __init__(self, part: str, message_id: str, message_en: str) -> None:
        super().__init__(f"{message_id} / {message_en}")
        self.part = part
        self.span = SPANS[part]
        self.message_id = message_id
        self.message_en = message_en


@dataclass(frozen=True)
class Nik:
    text: str
    province: str
    regency: str
    district: str
    birth_date: date
    sex: Sex
    serial: str

    @property
    def kode_kecamatan(self) -> str:
        """``PP.KK.CC``, the kecamatan where the NIK was issued."""
        return f"{self.province}.{self.regency}.{self.district}"

    def age_on(self, day: date) -> int:
        """Completed years on ``day`` (someone born on 29 Feb turns a year older on 1 Mar in common years)."""
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def wajib_ktp(self, on: date, married: bool = False) -> bool:
        """Must this person hold an e-KTP on ``on``? (17 or older, or married at any age.)"""
        return married or self.age_on(on) >= WAJIB_KTP_AGE

    def __str__(self) -> str:
        return self.text


def parse_nik(text: str, *, today: date | None = None) -> Nik:
    """Validate ``text`` (exactly 16 ASCII digits, no spaces) and return its parts; raises ``InvalidNik``.

    ``today`` decides the century of the two-digit year: the birth date is taken in today's century, unless that
    would lie in the future, then in the previous one.
    """
    if not isinstance(text, str) or not _ASCII_DIGITS.fullmatch(text):
        raise InvalidNik("digits", "NIK hanya boleh berisi angka 0-9", "NIK must contain only the digits 0-9")
    if len(text) != NIK_LENGTH:
        raise InvalidNik(
            "length", f"NIK harus 16 digit (ada {len(text)})", f"NIK must be 16 digits long (got {len(text)})"
        )
    province, regency, district = text[0:2], text[2:4], text[4:6]
    if province not in PROVINCES:
        raise InvalidNik("province", f"Kode provinsi tidak dikenal ({province})", f"Unknown province code ({province})")
    if regency == "00":
        raise InvalidNik("regency", "Kode kabupaten/kota tidak boleh 00", "Regency code must not be 00")
    if district == "00":
        raise InvalidNik("district", "Kode kecamatan tidak boleh 00", "District code must not be 00")
    birth_date, sex = _birth(text[6:12], today or date.today())
    serial = text[12:16]
    if serial == "0000":
        raise InvalidNik("serial", "Nomor urut tidak boleh 0000", "Serial number must not be 0000")
    return Nik(text, province, regency, district, birth_date, sex, serial)


def _birth(ddmmyy: str, today: date) -> tuple[date, Sex]:
    raw_day, month, yy = int(ddmmyy[0:2]), int(ddmmyy[2:4]), int(ddmmyy[4:6])
    sex: Sex = "P" if raw_day > WOMEN_DAY_OFFSET else "L"
    day = raw_day - WOMEN_DAY_OFFSET if sex == "P" else raw_day
    shown = f"{day:02d}-{ddmmyy[2:4]}" if 1 <= day <= 31 else f"{ddmmyy[0:2]}-{ddmmyy[2:4]}"
    this_century = today.year - today.year % 100
    for century in (this_century, this_century - 100):
        try:
            candidate = date(century + yy, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate, sex
    raise InvalidNik("birth_date", f"Tanggal lahir tidak valid ({shown})", f"Invalid birth date ({shown})")


def build_nik(kode_kecamatan: str, birth_date: date, sex: Sex, serial: int | str) -> str:
    """The NIK text for these facts (used by tests, benchmarks and demo data; not for issuing real NIKs)."""
    kec = kode_kecamatan.replace(".", "")
    day = birth_date.day + (WOMEN_DAY_OFFSET if sex == "P" else 0)
    text = f"{kec}{day:02d}{birth_date.month:02d}{birth_date.year % 100:02d}{int(serial):04d}"
    if len(text) != NIK_LENGTH:
        raise ValueError(f"cannot build a NIK from kecamatan {kode_kecamatan!r}")
    return text


def format_nik(text: str) -> str:
    """Grouped for reading aloud and printing: ``610601 120590 0001``."""
    return f"{text[0:6]} {text[6:12]} {text[12:16]}"
