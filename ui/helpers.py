"""Shared request plumbing: the logged-in operator, idle logout, database access, error pages, template globals."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from station.errors import JemputError
from ui import LANGUAGES, kiosk
from ui.errors import capture_messages

log = logging.getLogger(__name__)


@contextmanager
def db() -> Iterator[Any]:
    """The station connection, with the station's write lock held (SQLite writes are serialized)."""
    station = kiosk().station
    with station.db_lock:
        yield station.conn


def current_operator() -> Any | None:
    """The logged-in ``Operator`` (fresh from the store, so a deactivated operator is out at once)."""
    if "op" in g:
        return g.op
    g.op = None
    op_id = session.get("op_id")
    if op_id is not None:
        from station.operators import list_operators

        with db() as conn:
            g.op = next((o for o in list_operators(conn) if o.id == op_id), None)
    return g.op


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_operator() is None:
            if request.path.startswith(("/api/", "/camera/")):
                return {"error": "login required"}, 401
            return redirect(url_for("operator.login"))
        return view(*args, **kwargs)

    return wrapped


def audit(action: str, detail: dict[str, Any] | None = None, actor: str | None = None) -> None:
    """Record an operator action in the hash-chained audit log (DESIGN §9)."""
    from station.audit import append_audit

    op = current_operator()
    who = actor or (op.username if op else "kiosk")
    with db() as conn:
        append_audit(conn, who, action, detail or {})


def _check_idle() -> Any:
    """Log the operator out after ``idle_logout_s`` without a request (the page also counts touches)."""
    if request.endpoint in (None, "static") or "op_id" not in session:
        return None
    if request.endpoint in ("events.stream", "camera.stream", "operator.favicon"):
        return None  # streams (and the browser's own icon fetch) are not activity
    idle_s = kiosk().station.config.ui.idle_logout_s
    now = time.time()
    seen = session.get("seen", now)
    if now - seen > idle_s:
        user = session.get("op_user", "?")
        session.pop("op_id", None)
        session.pop("op_user", None)
        audit("operator.idle_logout", {"idle_s": int(now - seen)}, actor=user)
        flash(_("You were logged out after %(min)d minutes without activity.", min=idle_s // 60), "info")
        return redirect(url_for("operator.login"))
    session["seen"] = now
    return None


def _error_page(message: str, status: int) -> Any:
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else None
    return render_template("error.html", message=message, back=back or url_for("operator.home")), status


def outbox_state_names() -> dict[str, str]:
    """Translated names of the outbox states (queue, report and the live updates in kiosk.js)."""
    return {"sealed": _("Waiting"), "uploading": _("Sending"), "acknowledged": _("Received by office"),
            "purged": _("Received, removed"), "rejected": _("Refused by the office")}


def rejection_reason(item: Any) -> str:
    """The office's reason for refusing a packet (``last_error`` without the outbox's marker)."""
    from station.outbox import REJECTED_MARKER

    return (getattr(item, "last_error", None) or "").removeprefix(REJECTED_MARKER)


def day_text(value: Any) -> str:
    """A calendar date as Indonesians write it (DD-MM-YYYY); ISO (YYYY-MM-DD) in English. Accepts a date,
    a datetime or an ISO string; anything else is shown as it is."""
    from datetime import date, datetime

    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.astimezone().date() if value.tzinfo else value.date()
    if not isinstance(value, date):
        return "" if value is None else str(value)
    return value.isoformat() if str(get_locale() or "id") == "en" else value.strftime("%d-%m-%Y")


def desa_name(code: Any) -> str:
    """The desa's name for a kode wilayah (the code itself when the shipped list does not know it)."""
    from station.wilayah_names import label

    return label(str(code)) if code else ""


def sex_word(code: Any) -> str:
    """``L`` / ``P`` as words: operators should not have to know the roster's letters."""
    return {"L": _("Male"), "P": _("Female")}.get(str(code), str(code or ""))


def init_helpers(app: Flask) -> None:
    app.before_request(_check_idle)
    app.add_template_filter(day_text, "day")
    app.add_template_filter(desa_name, "desa")
    app.add_template_filter(sex_word, "sex")

    @app.errorhandler(JemputError)
    def _jemput_error(exc: JemputError) -> Any:
        from ui.errors import error_kind, user_message

        message = user_message(exc)  # logs the English detail; residents never see it
        if request.path.startswith("/api/") or request.is_json:
            return {"error": message, "code": error_kind(exc)}, 409
        return _error_page(message, 409)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return _error_page(_("This page was open too long or came from elsewhere. Please try again."), 400)

    @app.errorhandler(404)
    def _not_found(exc: Exception) -> Any:
        return _error_page(_("This page does not exist."), 404)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from ui.slips import slip_messages, slip_problem_message

        ctx = kiosk()
        return {
            "operator": current_operator(),
            "lang": str(get_locale() or "id"),
            "languages": LANGUAGES,
            "simulate": "simulator" in app.blueprints,
            "idle_logout_s": ctx.station.config.ui.idle_logout_s,
            "station_id": ctx.station.config.station.id,
            "capture_messages": capture_messages,
            "outbox_state_names": outbox_state_names,
            "rejection_reason": rejection_reason,
            "slips_available": ctx.slips.available,
            "slip_message": slip_problem_message,
            "slip_messages": slip_messages,
        }
