"""Kode wilayah: Kemendagri's region codes ``PP.KK.CC.DDDD`` (provinsi, kabupaten/kota, kecamatan, desa/kelurahan).

The first six digits of a NIK are the same code for the kecamatan where it was issued, so NIK checks and roster
checks share this module. Only the province list is built in (it rarely changes and lets us reject typos at
once); lower levels are checked for shape, because the full list has ~84,000 villages and changes every year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

# Kemendagri province codes (Kepmendagri 100.1.1-6117/2022 and later: 38 provinces, incl. the 2022 Papua split).
PROVINCES: dict[str, str] = {
    "11": "Aceh",
    "12": "Sumatera Utara",
    "13": "Sumatera Barat",
    "14": "Riau",
    "15": "Jambi",
    "16": "Sumatera Selatan",
    "17": "Bengkulu",
    "18": "Lampung",
    "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau",
    "31": "DKI Jakarta",
    "32": "Jawa Barat",
    "33": "Jawa Tengah",
    "34": "DI Yogyakarta",
    "35": "Jawa Timur",
    "36": "Banten",
    "51": "Bali",
    "52": "Nusa Tenggara Barat",
    "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat",
    "62": "Kalimantan Tengah",
    "63": "Kalimantan Selatan",
    "64": "Kalimantan Timur",
    "65": "Kalimantan Utara",
    "71": "Sulawesi Utara",
    "72": "Sulawesi Tengah",
    "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara",
    "75": "Gorontalo",
    "76": "Sulawesi Barat",
    "81": "Maluku",
    "82": "Maluku Utara",
    "91": "Papua",
    "92": "Papua Barat",
    "93": "Papua Selatan",
    "94": "Papua Tengah",
    "95": "Papua Pegunungan",
    "96": "Papua Barat Daya",
}


class WilayahLevel(IntEnum):
    """How deep a code goes; the value is the number of dotted parts."""

    PROVINSI = 1
    KABUPATEN = 2
    KECAMATAN = 3
    DESA = 4


class InvalidKode(ValueError):
    """A kode wilayah that is malformed or names no possible region; message in Indonesian / English."""


_DOTTED = re.compile(r"([0-9]{2})(?:\.([0-9]{2})(?:\.([0-9]{2})(?:\.([0-9]{4}))?)?)?")
_PLAIN_LENGTHS = {2: 1, 4: 2, 6: 3, 10: 4}


@dataclass(frozen=True)
class KodeWilayah:
    province: str
    regency: str | None = None
    district: str | None = None
    village: str | None = None

    @property
    def level(self) -> WilayahLevel:
        parts = [p for p in (self.province, self.regency, self.district, self.village) if p is not None]
        return WilayahLevel(len(parts))

    @property
    def text(self) -> str:
        """The dotted form, e.g. ``61.06.01.2001``."""
        return ".".join(p for p in (self.province, self.regency, self.district, self.village) if p is not None)

    @property
    def province_name(self) -> str:
        return PROVINCES[self.province]

    def truncate(self, level: WilayahLevel) -> KodeWilayah:
        """This code cut to a coarser level (e.g. the kecamatan of a desa)."""
        if level > self.level:
            raise ValueError(f"{self.text} has no {level.name.lower()} part")
        parts = [self.province, self.regency, self.district, self.village][: int(level)]
        return KodeWilayah(*parts)

    def contains(self, other: KodeWilayah) -> bool:
        """True when ``other`` is this region or lies inside it."""
        return other.level >= self.level and other.truncate(self.level) == self

    def __str__(self) -> str:
        return self.text


def _fail(id_text: str, en_text: str) -> InvalidKode:
    return InvalidKode(f"{id_text} / {en_text}")


def parse_kode(text: str, *, level: WilayahLevel | None = None) -> KodeWilayah:
    """Parse a dotted (``61.06.01.2001``) or undotted (``6106012001``) code, optionally requiring a level."""
    if not isinstance(text, str):
        raise _fail("Kode wilayah harus berupa teks", "Kode wilayah must be text")
    raw = text.strip()
    if "." in raw:
        match = _DOTTED.fullmatch(raw)
        if not match:
            raise _fail(f"Format kode wilayah salah ({raw!r})", f"Malformed kode wilayah ({raw!r}), want PP.KK.CC.DDDD")
        parts = [p for p in match.groups() if p is not None]
    elif raw.isascii() and raw.isdigit() and len(raw) in _PLAIN_LENGTHS:
        parts = [raw[0:2], raw[2:4], raw[4:6], raw[6:10]][: _PLAIN_LENGTHS[len(raw)]]
    else:
        raise _fail(f"Format kode wilayah salah ({raw!r})", f"Malformed kode wilayah ({raw!r}), want PP.KK.CC.DDDD")
    if parts[0] not in PROVINCES:
        raise _fail(f"Kode provinsi tidak dikenal ({parts[0]})", f"Unknown province code ({parts[0]})")
    names = [("kabupaten/kota", "regency"), ("kecamatan", "district"), ("desa/kelurahan", "village")]
    for part, (name_id, name_en) in zip(parts[1:], names, strict=False):
        if int(part) == 0:
            raise _fail(f"Kode {name_id} tidak boleh nol ({part})", f"The {name_en} code must not be zero ({part})")
    kode = KodeWilayah(*parts)
    if level is not None and kode.level != level:
        raise _fail(
            f"Kode wilayah {kode.text} bukan tingkat {level.name.lower()}",
            f"Kode wilayah {kode.text} is not at {level.name.lower()} level",
        )
    return kode


def format_kode(province: str, regency: str | None = None, district: str | None = None,
                village: str | None = None) -> str:
    """Build and validate the dotted text form from parts."""
    return parse_kode(".".join(p for p in (province, regency, district, village) if p is not None)).text
