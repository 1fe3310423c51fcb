"""JSON under ``/api/v1/dashboard/``: coverage, planner, records, duplicates (docs/office-dashboard.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, abort, jsonify, request

from office.coverage import coverage_summary, desa_rows
from office.planner import plan
from office.record_list import duplicate_niks, list_records
from office.web import office_ctx
from office.web.auth import login_required, not_activity
from office.web.coverage_view import local_today, selected_kecamatan
from office.web.records_view import record_filter

bp = Blueprint("dashboard_data", __name__, url_prefix="/api/v1/dashboard")


@bp.get("/coverage")
@login_required
@not_activity
def coverage() -> Any:
    ctx = office_ctx()
    district = ctx.config.office.district
    level = request.args.get("level", "kecamatan")
    if level not in ("kecamatan", "desa"):
        abort(400, description="level must be kecamatan or desa")
    summary = coverage_summary(ctx.engine, district, local_today(ctx))
    kecamatan = selected_kecamatan(district)
    rows = summary["kecamatan"] if level == "kecamatan" else desa_rows(ctx.engine, district, kecamatan)
    return jsonify(district=summary["district"].as_dict(), level=level, kecamatan=kecamatan,
                   rows=[r.as_dict() for r in rows], projection=summary["projection"].as_dict(),
                   per_day=[{"day": d, "records": n} for d, n in summary["per_day"]])


@bp.get("/planner")
@login_required
@not_activity
def planner() -> Any:
    ctx = office_ctx()
    district = ctx.config.office.district
    limit = request.args.get("limit", type=int)
    rows = plan(ctx.engine, district, datetime.now(UTC), ctx.config.office_location,
                kecamatan=selected_kecamatan(district), limit=limit if limit and limit > 0 else None)
    location = ctx.config.office_location
    return jsonify(office_location={"lat": location[0], "lng": location[1]} if location else None,
                   distance="great-circle km from the office to the desa label point (boundaries GeoJSON lat/lng)",
                   rows=[r.as_dict() for r in rows])


@bp.get("/records")
@login_required
@not_activity
def records() -> Any:
    ctx = office_ctx()
    limit = min(1000, max(1, request.args.get("limit", 100, type=int) or 100))
    offset = max(0, request.args.get("offset", 0, type=int) or 0)
    rows, total = list_records(ctx.engine, record_filter(), limit=limit, offset=offset)
    return jsonify(total=total, limit=limit, offset=offset, records=rows)


@bp.get("/duplicates")
@login_required
@not_activity
def duplicates() -> Any:
    return jsonify(duplicates=duplicate_niks(office_ctx().engine))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
