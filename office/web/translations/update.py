"""Refresh the office dashboard translations: extract ``messages.pot`` from office/web/, merge into ``id`` and
``en``, compile ``.mo``.

Run after changing any user-visible string:  ``.venv/bin/python -m office.web.translations.update``
Source strings (msgids) are English; ``id`` (the default language) must translate every one of them, ``en`` keeps
them as they are. The compiled ``.mo`` files are committed, so the office needs no build step; a test checks they
are up to date and that no Indonesian translation is missing.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
WEB = HERE.parent
LOCALES = ("id", "en")
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def extract() -> Catalog:
    catalog = Catalog(project="jemput", fuzzy=False)
    for _file, _line, message, comments, context in extract_from_dir(
        WEB, METHODS, keywords=KEYWORDS, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.do"}},
    ):
        catalog.add(message, None, [], auto_comments=comments, context=context)
    return catalog


def po_path(locale: str) -> Path:
    return HERE / locale / "LC_MESSAGES" / "messages.po"


def merged(template: Catalog, locale: str) -> Catalog:
    """The locale's catalog with every template message, keeping existing translations; obsolete ones dropped."""
    path = po_path(locale)
    old = read_po(path.open("rb"), locale=locale) if path.exists() else Catalog(locale=locale)
    new = Catalog(locale=locale, project="jemput", fuzzy=False)
    for message in template:
        if not message.id:
            continue
        previous = old.get(message.id, message.context)
        new.add(message.id, previous.string if previous else ("" if locale != "en" else None), context=message.context)
    return new


def compiled(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def missing(catalog: Catalog) -> list[str]:
    return [str(m.id) for m in catalog if m.id and not m.string]


def main() -> int:
    template = extract()
    with (HERE / "messages.pot").open("wb") as fh:
        write_po(fh, template, omit_header=True, no_location=True, sort_output=True)
    status = 0
    for locale in LOCALES:
        catalog = merged(template, locale)
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, no_location=True, sort_output=True)
        path.with_suffix(".mo").write_bytes(compiled(catalog))
        if locale == "id" and missing(catalog):
            print(f"id: {len(missing(catalog))} untranslated: {missing(catalog)[:5]}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
