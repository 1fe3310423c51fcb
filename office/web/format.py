"""Template filters: relative times ("5 menit yang lalu"), durations, sizes and region names, in the page's
language. Relative times are drawn as ``<time data-rel>`` so the page's script keeps them current."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask_babel import format_datetime, format_decimal, format_timedelta
from markupsafe import Markup, escape

from office.db import utc_now
from station.wilayah_names import label as region_label


def ago(value: datetime | None, empty: str = "–") -> Markup:
    if value is None:
        return Markup(escape(empty))
    text = format_timedelta(value - utc_now(), add_direction=True, threshold=1.0, granularity="second")
    iso = value.isoformat().replace("+00:00", "Z")
    title = format_datetime(value, "d MMM yyyy HH:mm:ss")
    return Markup(f'<time datetime="{iso}" data-rel title="{escape(title)}">{escape(text)}</time>')


def duration(seconds: float | None, empty: str = "–") -> str:
    if seconds is None:
        return empty
    return format_timedelta(timedelta(seconds=float(seconds)), threshold=1.0, granularity="minute")


def when(value: datetime | None, pattern: str = "d MMM HH:mm") -> str:
    return format_datetime(value, pattern) if value else "–"


def size_mb(mb: float | None) -> str:
    if mb is None:
        return "–"
    if mb >= 1024:
        return f"{format_decimal(round(mb / 1024, 1))} GB"
    return f"{format_decimal(round(mb))} MB"


def number(value: Any) -> str:
    return "–" if value is None else format_decimal(value)


def isodt(value: str | None) -> datetime | None:
    """An ISO string from a ``to_json()`` dict back to a datetime (for ``when`` / ``ago``)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def day(value: Any) -> str:
    """A calendar day as Indonesians write it (DD-MM-YYYY); ISO in English."""
    from flask_babel import get_locale

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
