"""Request defences of the kiosk, in front of every blueprint.

The kiosk listens on loopback, but a web page in any browser on the station (or an operator's tablet on the LAN)
can still reach it: through DNS rebinding (evil.example resolving to 127.0.0.1, so the browser sends
``Host: evil.example``) or by posting a form from another origin. So: only the configured host names are
answered, and a state-changing request whose ``Origin`` (or, without one, ``Referer``) is another origin is
refused. The simulator panel (``--simulate`` only) drives the emulated devices, so it needs the operator log-in or
the simulate-only token printed at start (``/sim?token=...``, remembered in the session after the first visit).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, abort, request, session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
SIM_TOKEN_KEY = "jemput_sim_token"
"""``app.extensions`` key of the simulate-only token (None without ``--simulate``)."""


def allowed_hosts(ui_host: str, extra: str = "") -> frozenset[str]:
    """Host names the kiosk answers: loopback, the bound address (unless a wildcard), and ``[ui] allowed_hosts``."""
    names = set(LOOPBACK_NAMES)
    if ui_host not in ("0.0.0.0", "::", ""):
        names.add(ui_host.strip("[]").lower())
    names.update(n.strip().lower() for n in extra.split(",") if n.strip())
    return frozenset(names)


def host_name(host_header: str) -> str:
    """``Host`` value without its port: ``127.0.0.1:8080`` -> ``127.0.0.1``, ``[::1]:8080`` -> ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def init_defences(app: Flask, *, ui_host: str, extra_hosts: str = "", simulate: bool = False) -> None:
    hosts = allowed_hosts(ui_host, extra_hosts)
    app.extensions[SIM_TOKEN_KEY] = secrets.token_urlsafe(18) if simulate else None

    @app.before_request
    def _defend():  # noqa: ANN202 - Flask hook
        if host_name(request.host) not in hosts:
            abort(400, description="unknown host name")     # DNS rebinding: never answer a foreign Host
        if request.method not in SAFE_METHODS and not _same_origin():
            abort(403, description="cross-origin request refused")
        if request.blueprint == "simulator":
            return _simulator_gate(app)
        return None


def _same_origin() -> bool:
    """The request comes from one of our own pages.

    ``Sec-Fetch-Site`` (every current browser sends it) must be ``same-origin`` (or ``none``: typed by the user);
    an ``Origin`` other than ``null`` must be exactly this scheme://host[:port]. The kiosk's pages send
    ``Referrer-Policy: no-referrer``, under which Chromium sends ``Origin: null`` on same-origin form posts, so
    ``null`` is accepted only with ``Sec-Fetch-Site: same-origin``. Without either header (not a browser: curl,
    tests) a ``Referer``, when present, must be ours; CSRF tokens still apply."""
    here = f"{request.scheme}://{request.host}".lower()
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site not in ("same-origin", "none"):
        return False
    if origin is not None and origin != "null":
        return origin.lower() == here
    if origin == "null":
        return site == "same-origin"
    referer = request.headers.get("Referer")
    if referer and site is None:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == here
    return True


def _simulator_gate(app: Flask):  # noqa: ANN202 - a Flask response or None
    token = app.extensions.get(SIM_TOKEN_KEY)
    if "op_id" in session or (token and session.get("sim_token") == token):
        return None
    given = request.args.get("token", "")
    if token and given and hmac.compare_digest(given, token):
        session["sim_token"] = token         # the panel's own requests then need no token
        return None
    abort(403, description="the simulator needs the operator log-in or the token printed at start")


def simulator_url(app: Flask, base_url: str) -> str | None:
    """The simulator's address with its token, for the start-up banner (None without ``--simulate``)."""
    token = app.extensions.get(SIM_TOKEN_KEY)
    return f"{base_url}/sim?token={token}" if token else None
