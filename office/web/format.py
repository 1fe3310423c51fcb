"""Template filters: relative times ("5 menit yang lalu"), durations, sizes and region names, in the page's
language. Relative times are drawn as ``<time data-rel>`` so the page's script keeps them current.

A station list may have 500 rows, so these avoid a Babel call per value: numbers use the locale's separators
(looked up once), and a relative time or duration is formatted once per distinct (unit, amount) and reused.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, g
from flask_babel import format_datetime, format_timedelta, get_locale
from markupsafe import Markup, escape

from office.db import utc_now
from station.wilayah_names import label as region_label

_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400), ("day", 86400), ("hour", 3600),
          ("minute", 60), ("second", 1))


def _memo() -> dict[Any, str]:
    memo = g.get("_format_memo")
    if memo is None:
        memo = g._format_memo = {}
    return memo


def _rounded(seconds: float, granularity: str) -> tuple[str, int]:
    """Babel's rounding (threshold 1.0): the largest unit that fits at least once."""
    a = abs(seconds)
    for unit, size in _UNITS:
        if a >= size or unit == granularity:
            return unit, int(round(a / size)) * (1 if seconds >= 0 else -1)
    return granularity, 0


def _timedelta_text(seconds: float, *, direction: bool, granularity: str) -> str:
    unit, amount = _rounded(seconds, granularity)
    key = ("td", unit, amount, direction)
    memo = _memo()
    if key not in memo:
        size = dict(_UNITS)[unit]
        memo[key] = format_timedelta(timedelta(seconds=amount * size), add_direction=direction, threshold=1.0,
                                     granularity=granularity)
    return memo[key]


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")


def ago(value: datetime | None, empty: str = "–") -> Markup:
    if value is None:
        return Markup(escape(empty))
    text = _timedelta_text((value - utc_now()).total_seconds(), direction=True, granularity="second")
    iso = value.isoformat().replace("+00:00", "Z")
    title = value.astimezone(_zone()).strftime("%d-%m-%Y %H:%M:%S")
    return Markup(f'<time datetime="{iso}" data-rel title="{title}">{escape(text)}</time>')


def duration(seconds: float | None, empty: str = "–") -> str:
    if seconds is None:
        return empty
    return _timedelta_text(float(seconds), direction=False, granularity="minute")


def when(value: datetime | None, pattern: str = "d MMM HH:mm") -> str:
    return format_datetime(value, pattern) if value else "–"


def _separators() -> tuple[str, str]:
    memo = _memo()
    if ("sep",) not in memo:
        locale = get_locale()
        memo[("sep",)] = (locale.number_symbols["latn"]["decimal"] if locale else ".") + (
            locale.number_symbols["latn"]["group"] if locale else ",")
    decimal, group = memo[("sep",)]
    return decimal, group


def _decimal(value: float, digits: int) -> str:
    decimal, group = _separators()
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", group)


def size_mb(mb: float | None) -> str:
    if mb is None:
        return "–"
    if mb >= 1024:
        return f"{_decimal(mb / 1024, 1)} GB"
    return f"{_decimal(mb, 0)} MB"


def number(value: Any) -> str:
    if value is None:
        return "–"
    return _decimal(value, 0) if float(value).is_integer() else _decimal(value, 1)


def isodt(value: str | None) -> datetime | None:
    """An ISO string from a ``to_json()`` dict back to a datetime (for ``when`` / ``ago``)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def day(value: Any) -> str:
    """A calendar day as Indonesians write it (DD-MM-YYYY); ISO in English."""
    return value.isoformat() if str(get_locale() or "id") == "en" else value.strftime("%d-%m-%Y")


def init_format(app: Flask) -> None:
    from office.web.texts import init_texts

    init_texts(app)
    app.add_template_filter(isodt, "isodt")
    app.add_template_filter(day, "day")
    app.add_template_filter(ago, "ago")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(when, "when")
    app.add_template_filter(size_mb, "size_mb")
    app.add_template_filter(number, "number")
    app.add_template_filter(region_label, "region")
