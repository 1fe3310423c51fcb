"""The dashboard's JSON under ``/api/v1/dashboard/`` (field names in docs/office-dashboard.md): the same data the
pages show, behind the same log-in (401 without it). Coverage, planner and records are further blueprints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, jsonify, request

from office import alerts, fleet, records
from office.web import office_ctx
from office.web.auth import login_required, not_activity
from office.web.fleet import _filters, ingest_counters, station_row_and_commands

bp = Blueprint("dashboard_api", __name__, url_prefix="/api/v1/dashboard")


@bp.get("/stations")
@login_required
@not_activity
def stations() -> Any:
    ctx = office_ctx()
    f = _filters()
    rows = fleet.fleet_rows(ctx.engine, ctx.config.office.district)
    shown = fleet.sort_rows(fleet.filter_rows(rows, state=f["state"], kecamatan=f["kecamatan"]), f["sort"])
    return jsonify(district=ctx.config.office.district, total=len(rows), stations=[r.to_json() for r in shown],
                   ingest=ingest_counters())


@bp.get("/stations/<station_id>")
@login_required
@not_activity
def station(station_id: str) -> Any:
    ctx = office_ctx()
    row, cmds = station_row_and_commands(station_id)
    per_day = records.records_per_day(ctx.engine, station_id, ctx.config.dashboard.timezone)
    return jsonify(station=row.to_json(), commands=[c.to_json() for c in cmds],
                   alerts=[a.to_json() for a in alerts.list_alerts(ctx.engine, station=station_id, open_only=False,
                                                                    limit=50)],
                   records_per_day=[{"day": d.isoformat(), "records": n} for d, n in per_day])


@bp.get("/stations/<station_id>/battery")
@login_required
@not_activity
def battery(station_id: str) -> Any:
    ctx = office_ctx()
    if fleet.get_row(ctx.engine, ctx.config.office.district, station_id) is None:
        abort(404)
    range_key = request.args.get("range", "24h")
    if range_key not in records.RANGES:
        abort(400, description="range must be 24h or 7d")
    return jsonify(station=station_id, range=range_key, **records.battery_series(ctx.engine, station_id, range_key))


@bp.get("/alerts")
@login_required
@not_activity
def alerts_list() -> Any:
    ctx = office_ctx()
    open_only = request.args.get("show", "open") != "all"
    rows = alerts.list_alerts(ctx.engine, open_only=open_only, limit=500)
    return jsonify(alerts=[a.to_json() for a in rows], open=sum(1 for a in rows if a.cleared_at is None))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
