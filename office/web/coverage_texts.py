"""Words of the Cakupan, Perencana and Rekaman pages, Bahasa Indonesia first with English beside it.

``tr(id, en)`` picks by the dashboard's language (the same session switch as the rest of the dashboard). The pages'
texts live here as pairs rather than in the shared message catalogue so that these pages can change without
regenerating it.
"""

from __future__ import annotations

from flask import has_request_context
from flask_babel import get_locale
from markupsafe import escape


def tr(indonesian: str, english: str) -> str:
    if has_request_context() and str(get_locale() or "id") == "en":
        return english
    return indonesian


class Bilingual:
    """A nav label that renders in the current language when the page is drawn."""

    def __init__(self, indonesian: str, english: str) -> None:
        self.indonesian, self.english = indonesian, english

    def __str__(self) -> str:
        return tr(self.indonesian, self.english)

    def __html__(self) -> str:
        return str(escape(str(self)))
