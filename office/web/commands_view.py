"""Commands from a station's page (admin only): sync-now, lock / unlock with a reason, a message to the operator,
requeue refused packets. The page then shows each command's state (``office.commands.CommandState``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from office import commands, fleet
from office.web import office_ctx
from office.web.auth import admin_required, current_user

bp = Blueprint("commands", __name__)


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


@bp.post("/stations/<station_id>/commands/<name>")
@admin_required
def send(station_id: str, name: str) -> Any:
    ctx = office_ctx()
    row = fleet.get_row(ctx.engine, ctx.config.office.district, station_id)
    if row is None:
        abort(404)
    form = request.get_json(silent=True) if request.is_json else request.form
    try:
        args = commands.validate_args(name, dict(form or {}))
    except commands.CommandError as exc:
        if _wants_json():
            return jsonify(error="invalid", field=exc.key, reason=str(exc)), 400
        messages = {"reason": _("A lock needs a reason (at most 300 characters); the operator sees it."),
                    "text": _("Write the message (at most 300 characters)."),
                    "packet_id": _("That is not a packet id."), "name": _("Unknown command.")}
        flash(messages.get(exc.key, str(exc)), "bad")
        return redirect(url_for("fleet.station", station_id=station_id) + "#commands")
    online = row.state is fleet.StationState.ONLINE
    command_id = commands.send(ctx.engine, ingest=ctx.ingest, office_key=ctx.keys.signing_key,
                               district=ctx.config.office.district, station=station_id, name=name, args=args,
                               user=current_user().username, station_online=online,
                               lifetime_s=ctx.config.dashboard.command_lifetime_s)
    if _wants_json():
        return jsonify(id=command_id, station=station_id, name=name, args=args, station_online=online), 202
    if online:
        flash(_("Command sent. The station's answer appears below."), "ok")
    else:
        flash(_("The station is offline: the command waits for it for %(min)d minutes and runs when it is back.",
                min=ctx.config.dashboard.command_lifetime_s // 60), "warn")
    return redirect(url_for("fleet.station", station_id=station_id) + "#commands")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
