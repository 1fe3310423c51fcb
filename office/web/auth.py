"""Dashboard log-in: office users (``office.users``), roles, lockout, idle logout, language, error pages.

Pages redirect a visitor who is not logged in to ``/login``; JSON under ``/api/`` answers 401 instead. A viewer
reaching an admin route gets 403. The user is read fresh from the database on every request, so a removed user or
a changed role takes effect at once. A login ends after ``[dashboard] idle_logout_s`` without a page request;
live streams and the page's own background requests do not count as activity.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from office import users
from office.audit import audit
from office.web import LANGUAGES, office_ctx

bp = Blueprint("auth", __name__)
NOT_ACTIVITY = "_jemput_not_activity"


def current_user() -> users.OfficeUser | None:
    if "office_user" in g:
        return g.office_user
    g.office_user = None
    name = session.get("user")
    if name:
        g.office_user = users.get_user(office_ctx().engine, name)
        if g.office_user is None:
            session.clear()
    return g.office_user


def _is_api() -> bool:
    return request.path.startswith("/api/")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if _is_api():
                return jsonify(error="login_required", reason="log in at /login first"), 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user().is_admin:
            if _is_api() or request.method != "GET":
                audit(office_ctx().engine, current_user().username, "refused.not_admin",
                      {"path": request.path, "method": request.method})
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def not_activity(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view (live stream, background refresh) that must not keep a login alive."""
    setattr(view, NOT_ACTIVITY, True)
    return view


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("fleet.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("fleet.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    ctx = office_ctx()
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip().lower()
        password = request.form.get("password", "")
        try:
            user = users.authenticate(ctx.engine, username, password,
                                      max_failed=ctx.config.dashboard.max_failed_logins,
                                      lockout=timedelta(seconds=ctx.config.dashboard.lockout_s))
        except users.LoginRefused as exc:
            if exc.locked_until is not None:
                error = _("Too many wrong passwords. This account is locked until %(time)s.",
                          time=format_datetime(exc.locked_until, "HH:mm"))
            else:
                error = _("Wrong user name or password.")
            return render_template("login.html", error=error, username=username), 401
        session.clear()
        session.permanent = True
        session.update(user=user.username, seen=time.time(), lang=str(get_locale() or "id"))
        audit(ctx.engine, user.username, "login", {"role": user.role.value})
        return redirect(_safe_next(request.args.get("next")))
    if current_user() is not None:
        return redirect(url_for("fleet.index"))
    return render_template("login.html", error=error, username="")


@bp.post("/logout")
def logout() -> Any:
    session.pop("user", None)
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/lang/<code>")
def set_language(code: str) -> Any:
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")))


def _check_idle() -> Any:
    if request.endpoint in (None, "static") or "user" not in session:
        return None
    view = office_app_view(request.endpoint)
    now = time.time()
    seen = session.get("seen", now)
    idle_s = office_ctx().config.dashboard.idle_logout_s
    if now - seen > idle_s:
        session.pop("user", None)
        g.office_user = None
        if not _is_api():
            flash(_("You were logged out after %(min)d minutes without activity.", min=idle_s // 60), "info")
        return None
    if not getattr(view, NOT_ACTIVITY, False):
        session["seen"] = now
    return None


def office_app_view(endpoint: str) -> Any:
    from flask import current_app

    return current_app.view_functions.get(endpoint)


def _error_page(message: str, status: int) -> Any:
    return render_template("error.html", message=message, status=status), status


def _api_error(exc: HTTPException) -> Response:
    """The receiver's JSON error shape (``{error, reason}``) for everything under ``/api/``."""
    response = exc.get_response()
    response.set_data(jsonify(error=exc.name.lower().replace(" ", "_"), reason=exc.description).get_data())
    response.content_type = "application/json"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(_check_idle)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        if _is_api():
            return _api_error(exc)
        return _error_page(_("This form was open too long or came from elsewhere. Please try again."), 400)

    pages = {403: lambda: _("Only an office admin may do this."), 404: lambda: _("This page does not exist."),
             405: lambda: _("This page cannot be used that way."), 400: lambda: _("The request was not valid.")}
    for code, text in pages.items():
        def handler(exc: HTTPException, text: Callable[[], str] = text) -> Any:
            return _api_error(exc) if _is_api() else _error_page(text(), exc.code or 500)

        app.register_error_handler(code, handler)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        ctx = office_ctx()
        user = current_user()
        return {
            "user": user,
            "lang": str(get_locale() or "id"),
            "nav": [n for n in ctx.nav if user and (user.is_admin or not n.admin_only)],
            "page_strips": ctx.strips,
            "district": ctx.config.office.district,
            "idle_logout_s": ctx.config.dashboard.idle_logout_s,
        }
