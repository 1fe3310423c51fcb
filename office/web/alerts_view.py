"""Alerts: the strip on top of every page, the alerts page, and acknowledgement by an admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from office import alerts
from office.web import add_nav, office_ctx
from office.web.auth import admin_required, current_user, login_required
from office.web.format import duration

bp = Blueprint("alerts", __name__)
STRIP_SHOWN = 4


def alert_text(alert: dict[str, Any]) -> str:
    """One line a person understands, from an alert's rule and detail (``Alert.to_json()`` shape)."""
    d = alert.get("detail") or {}
    rule = alert.get("rule")
    if rule == alerts.Rule.BATTERY_LOW:
        return _("Battery at %(pct)s%% on battery power", pct=round(d.get("battery_percent") or 0))
    if rule == alerts.Rule.OFFLINE:
        return _("Offline while a session is open")
    if rule == alerts.Rule.STUCK:
        return _("Says online but sends no status")
    if rule == alerts.Rule.PENDING_OLD:
        return _("Records waiting for %(age)s", age=duration(d.get("oldest_pending_age_s")))
    if rule == alerts.Rule.DEVICE_FAULT:
        names = {"camera": _("camera"), "fingerprint": _("fingerprint sensor"), "signature_pad": _("signature pad"),
                 "battery": _("battery board")}
        return _("Device fault: %(devices)s", devices=", ".join(names.get(x, x) for x in d.get("devices", [])))
    if rule == alerts.Rule.STORAGE_LOW:
        return _("Storage low: %(mb)s MB free", mb=d.get("free_mb"))
    if rule == alerts.Rule.CLOCK_SKEW:
        return _("Clock off by %(time)s", time=duration(abs(d.get("skew_s") or 0)))
    if rule == alerts.Rule.PACKET_REJECTED:
        return _("Record refused by the office (%(count)s)", count=d.get("count", 1))
    if rule == alerts.Rule.DUPLICATE_NIK:
        from office.web.coverage_texts import tr

        return tr("NIK {nik} direkam lebih dari sekali ({count} NIK ganda)",
                  "NIK {nik} recorded more than once ({count} duplicate NIKs)").format(
            nik=d.get("nik", "?"), count=d.get("count", 1))
    return str(rule)


def _strip_context() -> dict[str, Any]:
    ctx = office_ctx()
    if current_user() is None:
        return {}
    open_alerts = [a.to_json() for a in alerts.list_alerts(ctx.engine, open_only=True, limit=200)]
    open_alerts.sort(key=lambda a: (a["acknowledged"], a["severity"] != "bad", a["raised_at"]))
    return {"strip_alerts": open_alerts[:STRIP_SHOWN], "strip_total": len(open_alerts),
            "strip_unacked": sum(1 for a in open_alerts if not a["acknowledged"])}


@bp.get("/alerts")
@login_required
def index() -> Any:
    ctx = office_ctx()
    show = request.args.get("show", "open")
    rows = alerts.list_alerts(ctx.engine, open_only=show != "all", limit=300)
    return render_template("alerts.html", rows=[a.to_json() for a in rows], show=show)


@bp.post("/alerts/<int:alert_id>/ack")
@admin_required
def ack(alert_id: int) -> Any:
    ctx = office_ctx()
    try:
        alert = alerts.acknowledge(ctx.engine, alert_id, current_user().username)
    except alerts.AlertError:
        if request.accept_mimetypes.best == "application/json":
            return jsonify(error="not_found", reason=f"alert {alert_id} does not exist"), 404
        flash(_("That alert does not exist."), "bad")
        return redirect(url_for("alerts.index"))
    ctx.live.publish({alert.station}, alerts=True)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(alert.to_json())
    flash(_("Alert acknowledged; it stays listed until it clears."), "ok")
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("alerts.index"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_strip_context)
    app.add_template_global(alert_text)
    app.extensions["jemput_office"].strips.append("_alert_strip.html")
    add_nav(app, "alerts.index", _l("Alerts"), 20)
