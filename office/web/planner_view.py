"""Perencana: where to go next, and the roster for the desa picked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request, stream_with_context

from office import refdata
from office.coverage import district_code
from office.planner import plan
from office.roster_export import RosterExportError, parse_desa_list, roster_csv
from office.web import add_nav, office_ctx
from office.web.auth import login_required
from office.web.coverage_texts import Bilingual, tr
from office.web.coverage_view import selected_kecamatan

bp = Blueprint("planner", __name__)


@bp.get("/perencana")
@login_required
def index() -> Any:
    ctx = office_ctx()
    district = ctx.config.office.district
    kecamatan = selected_kecamatan(district)
    rows = plan(ctx.engine, district, datetime.now(UTC), ctx.config.office_location, kecamatan=kecamatan)
    return render_template("perencana.html", rows=rows, kecamatan=kecamatan,
                           kecamatan_choices=refdata.children_of(ctx.engine, district_code(district)),
                           location=ctx.config.office_location, tr=tr)


@bp.get("/perencana/roster.csv")
@login_required
def roster() -> Any:
    """The station roster (DESIGN §8) for the desa ticked on the planner."""
    ctx = office_ctx()
    picked = ",".join(request.args.getlist("desa"))
    try:
        codes = parse_desa_list(picked, ctx.config.office.district)
    except RosterExportError as exc:
        abort(400, description=str(exc))
    name = "roster-" + "-".join(c.replace(".", "") for c in codes[:4]) + ("-dll" if len(codes) > 4 else "") + ".csv"
    response = Response(stream_with_context(roster_csv(ctx.engine, codes)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, "planner.index", Bilingual("Perencana", "Planner"), 40)
