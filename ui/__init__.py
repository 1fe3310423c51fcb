"""The kiosk UI: a Flask app over a running ``Station``.

The app is built by ``create_app(station)``; the station's services are passed in and kept on
``app.extensions["jemput"]`` (no module globals), so tests can build as many apps as they like. The web layer
never calls a driver: it reads station snapshots, calls services (enrollment, outbox, operators) and subscribes to
the event bus. Security: CSRF on every POST, a strict Content-Security-Policy (every asset is served from here),
session cookie HttpOnly + SameSite=Strict, and a random secret key kept in ``<data_dir>/keys/ui_secret.key`` (0600).
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

LANGUAGES = ("id", "en")
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@dataclass
class KioskContext:
    """What the blueprints need, reached through ``kiosk()``."""

    station: Any
    capture: Any
    slips: Any = None
    """``station.slips.SlipPrinter``: the resident's slip (offered only when a printer is configured)."""
    stopping: threading.Event = field(default_factory=threading.Event)


def create_app(station: Any, *, testing: bool = False) -> Flask:
    """Build the kiosk app for ``station`` (a ``station.runtime.Station``)."""
    from station.capture import CaptureCoordinator
    from station.slips import SlipPrinter

    app = Flask(__name__)
    config = station.config
    app.config.update(
        SECRET_KEY=_secret_key(Path(config.station.data_dir)),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="jemput_session",
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=testing,
        BABEL_DEFAULT_LOCALE=config.ui.language,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        MAX_CONTENT_LENGTH=256 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.extensions["jemput"] = KioskContext(station=station, capture=CaptureCoordinator(station),
                                            slips=SlipPrinter(station))
    Babel(app, locale_selector=_select_locale)
    CSRFProtect(app)
    from ui.defences import init_defences

    init_defences(app, ui_host=config.ui.host, extra_hosts=config.ui.allowed_hosts,
                  simulate=getattr(getattr(station, "devices", None), "simulator", None) is not None)
    _register(app)

    @app.after_request
    def _headers(response):  # noqa: ANN001, ANN202 - Flask hook
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def kiosk() -> KioskContext:
    """The kiosk context of the current app."""
    from flask import current_app

    return current_app.extensions["jemput"]


def _register(app: Flask) -> None:
    from ui import camera, events, health, operator, resident, slips, unlock
    from ui.helpers import init_helpers

    init_helpers(app)
    app.register_blueprint(operator.bp)
    app.register_blueprint(resident.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(camera.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(slips.bp)
    app.register_blueprint(unlock.bp)
    station = app.extensions["jemput"].station
    devices = getattr(station, "devices", None)
    if getattr(devices, "simulator", None) is not None:
        from ui import simulator

        app.register_blueprint(simulator.bp)


def _select_locale() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    return kiosk().station.config.ui.language if request else "id"


def _secret_key(data_dir: Path) -> bytes:
    """A random key made once per station and kept 0600, so sessions survive a restart but not a stolen SD image
    of another station."""
    path = data_dir / "keys" / "ui_secret.key"
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(48)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return key
