"""Rekaman: received records (metadata only, never a picture or a fingerprint), filters, CSV, and duplicates."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, render_template, request, stream_with_context, url_for

from office import refdata
from office.coverage import district_code
from office.record_list import STATUSES, RecordFilter, duplicate_niks, filter_options, list_records, records_csv
from office.web import add_nav, office_ctx
from office.web.auth import login_required
from office.web.coverage_texts import Bilingual, tr

bp = Blueprint("records_page", __name__)
PAGE = 50


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def record_filter() -> RecordFilter:
    args = request.args
    desa = args.get("desa", "").strip()
    status = args.get("status", "")
    return RecordFilter(station=args.get("station") or None, day_from=_day("from"), day_to=_day("to"),
                        desa=desa if desa.count(".") in (2, 3) else None, operator=args.get("operator") or None,
                        exceptions=args.get("exceptions") == "1", force_captured=args.get("force_captured") == "1",
                        status=status if status in STATUSES else None)


@bp.get("/rekaman")
@login_required
def index() -> Any:
    ctx = office_ctx()
    f = record_filter()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows, total = list_records(ctx.engine, f, limit=PAGE, offset=(page - 1) * PAGE)
    names = refdata.names_for(ctx.engine, {r["kode_desa"] for r in rows if r["kode_desa"]})
    district = ctx.config.office.district
    kecamatan = refdata.children_of(ctx.engine, district_code(district))
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("rekaman.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE)),
                           f=f, names=names, options=filter_options(ctx.engine), kecamatan=kecamatan,
                           statuses=STATUSES, args=args, csv_url=url_for("records_page.csv_export", **args),
                           duplicates=len(duplicate_niks(ctx.engine)), tr=tr)


@bp.get("/rekaman.csv")
@login_required
def csv_export() -> Any:
    ctx = office_ctx()
    response = Response(stream_with_context(records_csv(ctx.engine, record_filter())), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="rekaman.csv"'
    return response


@bp.get("/rekaman/ganda")
@login_required
def duplicates() -> Any:
    ctx = office_ctx()
    groups = duplicate_niks(ctx.engine)
    codes = {r["kode_desa"] for g in groups for r in g["records"] if r["kode_desa"]}
    return render_template("duplikat.html", groups=groups, names=refdata.names_for(ctx.engine, codes), tr=tr)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, "records_page.index", Bilingual("Rekaman", "Records"), 50)
