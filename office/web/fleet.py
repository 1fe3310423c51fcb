"""Stations: the list (table on a PC, cards on a phone) with live updates by SSE, and one station's page."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    get_template_attribute,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from office import fleet
from office.live import HubFull
from office.web import add_nav, office_ctx
from office.web.auth import current_user, login_required, not_activity
from office.web.format import ago, init_format
from office.web.texts import row_labels

bp = Blueprint("fleet", __name__)
HEARTBEAT_S = 15.0
STATES = ("online", "offline", "never")


@functools.lru_cache(maxsize=8)
def _kecamatan_codes(district: str) -> frozenset[str]:
    return frozenset(code for code, _name in fleet.kecamatan_choices(district))


def _filters() -> dict[str, str]:
    state = request.args.get("state", "")
    kec = request.args.get("kecamatan", "")
    sort = request.args.get("sort", "id")
    known = _kecamatan_codes(office_ctx().config.office.district)
    return {"state": state if state in STATES else "", "kecamatan": kec if kec in known else "",
            "sort": sort if sort in fleet.SORTS else "id"}


def ingest_counters() -> dict[str, int]:
    """Messages the ingest refused or could not place (shown under the list; nothing of them is a station)."""
    ingest = office_ctx().ingest
    stats = dict(getattr(ingest, "stats", {}) or {})
    return {"rejected": stats.get("rejected", 0), "unknown_station": stats.get("unknown_station", 0),
            "other_district": stats.get("rejected:other_district", 0) + stats.get("rejected:wrong_district", 0),
            "malformed": sum(v for k, v in stats.items() if k.startswith("rejected:") and k not in (
                "rejected:other_district", "rejected:wrong_district"))}


class RowCache:
    """Rendered station rows, reused while nothing shown in them changed.

    The key holds everything the row shows (its telemetry times, open alerts, language, filters' visibility does
    not enter: it is a class set by the page) and the relative "last seen" text as it reads right now, so a
    cached row is never staler than a fresh one would be. Bounded: the oldest entries go first.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[Any, ...], Markup] = OrderedDict()
        self._lock = threading.Lock()

    def render(self, row: fleet.StationRow, labels: dict[str, str], lang: str) -> Markup:
        key = (lang, row.id, row.state.value, row.status_ts, row.last_seen_at, row.state_changed_at, row.label,
               row.simulated, str(ago(row.last_seen_at, labels["never"])),
               tuple((a["id"], a["acknowledged"]) for a in row.alerts))
        with self._lock:
            hit = self._rows.get(key)
            if hit is not None:
                self._rows.move_to_end(key)
                return hit
        macro = get_template_attribute("_macros.html", "station_row")
        html = Markup(macro(row, labels, url_for("fleet.station", station_id=row.id)))
        with self._lock:
            self._rows[key] = html
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)
        return html


def _row_cache() -> RowCache:
    ext = current_app.extensions
    if "jemput_row_cache" not in ext:
        ext["jemput_row_cache"] = RowCache()
    return ext["jemput_row_cache"]


def render_rows(rows: list[fleet.StationRow]) -> list[Markup]:
    labels, lang = row_labels(), str(get_locale() or "id")
    cache = _row_cache()
    return [cache.render(row, labels, lang) for row in rows]


@bp.get("/")
@login_required
def index() -> Any:
    ctx = office_ctx()
    f = _filters()
    rows = fleet.fleet_rows(ctx.engine, ctx.config.office.district)
    shown = fleet.sort_rows(fleet.filter_rows(rows, state=f["state"], kecamatan=f["kecamatan"]), f["sort"])
    return render_template("stations.html", rows=shown, rows_html=render_rows(shown), total=len(rows), filters=f,
                           kecamatan=fleet.kecamatan_choices(ctx.config.office.district),
                           counts={s: sum(1 for r in rows if r.state.value == s) for s in STATES},
                           counters=ingest_counters(), live=ctx.ingest is not None)


def station_row_and_commands(station_id: str) -> tuple[fleet.StationRow, list[Any]]:
    """The station's row and its recent commands (answers checked with its key): the page and its JSON show both;
    404 for a station this office does not know."""
    from office import commands
    from office.stations import get_station

    ctx = office_ctx()
    row = fleet.get_row(ctx.engine, ctx.config.office.district, station_id)
    if row is None:
        abort(404)
    registered = get_station(ctx.engine, station_id)
    cmds = commands.recent_commands(ctx.engine, station_id, station_online=row.state is fleet.StationState.ONLINE,
                                    answer_wait_s=ctx.config.dashboard.answer_wait_s,
                                    verify_key=registered.verify_key if registered else None)
    return row, cmds


@bp.get("/stations/<station_id>")
@login_required
def station(station_id: str) -> Any:
    from office import alerts, records

    ctx = office_ctx()
    row, cmds = station_row_and_commands(station_id)
    return render_template(
        "station.html", row=row, open_alerts=[a.to_json() for a in alerts.list_alerts(ctx.engine, station=station_id)],
        timeline=records.timeline(ctx.engine, station_id, cmds),
        per_day=records.records_per_day(ctx.engine, station_id, ctx.config.dashboard.timezone),
        commands=cmds, mqtt=ctx.ingest is not None,
        lifetime_min=ctx.config.dashboard.command_lifetime_s // 60)


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


def _row_payload(row: fleet.StationRow, f: dict[str, str]) -> dict[str, Any]:
    return {"id": row.id, "visible": fleet.matches(row, state=f["state"], kecamatan=f["kecamatan"]),
            "row": str(render_rows([row])[0]), "urgent": row.urgent}


def live_stream(f: dict[str, str], idle_deadline: float, max_s: float | None = None) -> Iterator[str]:
    """Rows of the stations that changed, as soon as the ingest committed them; ends on logout time or shutdown."""
    ctx = office_ctx()
    started = time.monotonic()
    try:
        sub = ctx.live.subscribe()
    except HubFull:
        yield _event("full", {})
        return
    with sub:
        yield "retry: 2000\n\n"
        yield _event("hello", {"t": time.time()})
        while not ctx.stopping.is_set():
            change = sub.wait(HEARTBEAT_S)
            if change.closed:
                return
            if time.time() > idle_deadline:
                yield _event("logout", {})
                return
            if max_s is not None and time.monotonic() - started > max_s:
                return
            if not change:
                yield ": keep-alive\n\n"
                continue
            if change.stations:
                for row in fleet.fleet_rows(ctx.engine, ctx.config.office.district, only=change.stations):
                    yield _event("station", _row_payload(row, f))
            if change.alerts:
                yield _event("alerts", {"strip": render_template("_alert_strip.html")})


@bp.get("/events")
@login_required
@not_activity
def events() -> Response:
    """SSE: a plain streaming WSGI response (one worker thread per open page), so any threaded server serves it."""
    ctx = office_ctx()
    idle_deadline = session.get("seen", time.time()) + ctx.config.dashboard.idle_logout_s
    current_user()   # resolved now: the stream outlives the request's first moments
    response = Response(stream_with_context(live_stream(_filters(), idle_deadline)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def init_app(app: Flask) -> None:
    init_format(app)
    app.register_blueprint(bp)
    add_nav(app, "fleet.index", _l("Stations"), 10)
