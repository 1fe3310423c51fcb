"""The office Flask app: the packet receiver and the dashboard, built from services passed in.

``create_office_app(config, engine, keys)`` builds one app (DESIGN §11): the receiver's tus endpoints under
``/api/v1/uploads`` and the dashboard's pages and JSON. Everything the blueprints need lives on an
``OfficeContext`` in ``app.extensions["jemput_office"]`` (no module globals), reached through ``office_ctx()``.

Adding a dashboard feature: write a module under ``office/web/`` with ``init_app(app)`` that registers its
blueprint(s) and, for a page in the top navigation, calls ``add_nav(app, endpoint, label, order)``; then append
the module's name to ``FEATURES``. Views use ``login_required`` / ``admin_required`` from ``office.web.auth`` and
extend ``base.html``.

Security as on the kiosk: CSRF on every dashboard POST (the receiver, which authenticates stations by bearer
token, is exempt), a strict Content-Security-Policy (every asset is served from here), the session cookie
HttpOnly + SameSite=Strict (+ Secure with ``[dashboard] cookie_secure``), and a random secret key kept in
``<data_dir>/keys/dashboard_secret.key`` (0600).
"""

from __future__ import annotations

import importlib
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine

from office.config import OfficeConfig
from office.keys import OfficeKeys
from office.live import LiveHub
from office.receiver import bp as receiver_bp
from office.receiver import init_receiver
from station import keys as station_keys

LANGUAGES = ("id", "en")
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
FEATURES: list[str] = [
    "office.web.auth",
    "office.web.fleet",
    "office.web.alerts_view",
    "office.web.commands_view",
    "office.web.api",
    "office.web.record_indexing",
    "office.web.coverage_view",
    "office.web.planner_view",
    "office.web.records_view",
    "office.web.coverage_api",
]
"""Modules with ``init_app(app)``, registered in this order. Append a feature's module here."""


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: Any
    """A ``lazy_gettext`` string, translated when the page is drawn."""
    order: int = 100
    admin_only: bool = False


@dataclass
class OfficeContext:
    """What the blueprints need, reached through ``office_ctx()``."""

    config: OfficeConfig
    engine: Engine
    keys: OfficeKeys
    live: LiveHub
    nav: list[NavItem] = field(default_factory=list)
    strips: list[str] = field(default_factory=list)
    """Templates drawn under the top bar of every page (the alert strip); a feature may append its own."""
    ingest: Any = None
    """``office.ingest.Ingest`` once attached (commands need it); None when the office runs without MQTT."""
    alerts: Any = None
    """``office.alerts.AlertEngine`` once attached."""
    stopping: threading.Event = field(default_factory=threading.Event)

    def __getitem__(self, key: str) -> Any:   # the receiver's era used a dict here; keep ["engine"] working
        return getattr(self, key)


def office_ctx() -> OfficeContext:
    return current_app.extensions["jemput_office"]


def add_nav(app: Flask, endpoint: str, label: Any, order: int = 100, *, admin_only: bool = False) -> None:
    """Put a page in the top navigation (sorted by ``order``; stations is 10, alerts 20)."""
    nav = app.extensions["jemput_office"].nav
    nav.append(NavItem(endpoint, label, order, admin_only))
    nav.sort(key=lambda item: item.order)


def create_office_app(config: OfficeConfig, engine: Engine, keys: OfficeKeys, *, testing: bool = False) -> Flask:
    app = Flask("office.web", root_path=str(Path(__file__).parent))
    # Werkzeug refuses larger bodies before any view reads them; the receiver checks Upload-Length itself.
    app.config.update(
        MAX_CONTENT_LENGTH=config.max_upload_bytes + 64 * 1024,
        SECRET_KEY=_secret_key(config.keys_dir),
        SESSION_COOKIE_NAME="jemput_office",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.dashboard.cookie_secure,
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="id",
        BABEL_DEFAULT_TIMEZONE=config.dashboard.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        TESTING=testing,
    )
    from office.alerts import create_alert_tables

    create_alert_tables(engine)
    app.extensions["jemput_office"] = OfficeContext(config=config, engine=engine, keys=keys,
                                                    live=LiveHub(max_subscribers=max(2, config.office.threads - 4)))
    init_receiver(app, config, engine, keys)
    csrf = CSRFProtect(app)
    csrf.exempt(receiver_bp)           # stations authenticate by bearer token, not by cookie
    Babel(app, locale_selector=_select_locale)
    for name in FEATURES:
        importlib.import_module(name).init_app(app)

    @app.get("/api/v1/health")
    def health() -> Response:
        """Liveness probe for the reverse proxy and the demo."""
        return jsonify(ok=True, district=config.office.district)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype in ("text/html", "application/json"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def attach_ingest(app: Flask, ingest: Any) -> None:
    """Connect a started ``Ingest``: its batches wake the live streams and feed the alert rules, and the
    dashboard's commands go out through its MQTT client. Starts the alert engine's clock."""
    from office.alerts import AlertEngine

    ctx: OfficeContext = app.extensions["jemput_office"]
    ctx.ingest = ingest
    if ctx.alerts is None:
        ctx.alerts = AlertEngine(ctx.config, ctx.engine, on_change=lambda ids: ctx.live.publish(ids, alerts=True))
        ctx.alerts.start()
    ingest.add_listener(ctx.alerts.on_batch)
    ingest.add_listener(lambda batch: ctx.live.publish({m.station for m in batch}))


def stop_dashboard(app: Flask) -> None:
    """End live streams and the alert clock (before the WSGI server stops, so no worker waits on a stream)."""
    ctx: OfficeContext = app.extensions["jemput_office"]
    ctx.stopping.set()
    ctx.live.close()
    if ctx.alerts is not None:
        ctx.alerts.stop()


def _select_locale() -> str:
    """Bahasa Indonesia unless the user switched to English (kept in the session)."""
    lang = session.get("lang") if request else None
    return lang if lang in LANGUAGES else "id"


def _secret_key(keys_dir: Path) -> bytes:
    """A random key made once per office and kept 0600, so logins survive a restart."""
    path = Path(keys_dir) / "dashboard_secret.key"
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(48)
    try:
        station_keys.write_secret_file(path, key, overwrite=False)
    except station_keys.KeyFileExists:   # another process made it first
        return path.read_bytes()
    return key
