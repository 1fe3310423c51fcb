"""Operator screens: login (tile, then PIN keypad), home with station status, session open/close, resident search
(NIK keypad, name keyboard), queue, session report, language, logout."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ui import LANGUAGES, kiosk
from ui.helpers import audit, current_operator, db, desa_name, login_required
from ui.status import station_status, todays_outbox

bp = Blueprint("operator", __name__)
PIN_LENGTH = 6


def local_time(ts: datetime | None) -> str:
    """HH:MM in the station's local time zone (operators do not think in UTC)."""
    return ts.astimezone().strftime("%H:%M") if ts else "-"


@bp.get("/login")
def login() -> Any:
    from station.operators import list_operators

    with db() as conn:
        operators = list_operators(conn)
    return render_template("login.html", operators=operators)


@bp.route("/login/<username>", methods=["GET", "POST"])
def pin(username: str) -> Any:
    from station.operators import OperatorLocked, WrongPin, authenticate, list_operators
    from station.operators import locked_until as lock_end
    from ui.unlock import unlockers

    with db() as conn:
        op = next((o for o in list_operators(conn) if o.username == username), None)
        until = lock_end(conn, op.id) if op is not None else None
        can_unlock = bool(op and unlockers(conn, username))
    if op is None:
        abort(404)
    error, locked_until = None, local_time(until) if until else None
    if request.method == "POST" and locked_until is None:
        entered = request.form.get("pin", "")
        try:
            with db() as conn:
                op = authenticate(conn, username, entered)
        except WrongPin as exc:
            error = _("Wrong PIN. %(n)d attempts left.", n=exc.remaining_attempts)
        except OperatorLocked as exc:
            locked_until = local_time(exc.until)
        else:
            lang = session.get("lang")
            session.clear()  # a fresh session for the operator: nothing carried over but the language
            session.update(op_id=op.id, op_user=op.username, seen=time.time())
            if lang:
                session["lang"] = lang
            return redirect(url_for("operator.home"))
    return render_template("pin.html", op=op, error=error, locked_until=locked_until, pin_length=PIN_LENGTH,
                           can_unlock=can_unlock)


@bp.post("/logout")
def logout() -> Any:
    op = current_operator()
    lang = session.get("lang")
    if op is not None:
        audit("operator.logout")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("operator.login"))


@bp.post("/lang/<code>")
def set_language(code: str) -> Any:
    if code in LANGUAGES:
        session["lang"] = code
    target = request.form.get("next") or url_for("operator.home")
    return redirect(target if target.startswith("/") and not target.startswith("//") else "/")


@bp.post("/api/ping")
def ping() -> Any:
    """Touches on the kiosk that need no request still count as activity for the idle logout."""
    return {"ok": current_operator() is not None}


@bp.get("/")
@login_required
def home() -> Any:
    from station.sessions import current_session, enrolled_in_session

    station = kiosk().station
    with db() as conn:
        sess = current_session(conn)
        enrolled = enrolled_in_session(conn, sess.id) if sess else 0
        drafts = station.enrollment.active_drafts()
    return render_template(
        "home.html", status=station_status(station), sess=sess, enrolled=enrolled, drafts=drafts,
        can_sync=_uploader() is not None, opened_at=local_time(sess.opened_at) if sess else None,
    )


@bp.get("/api/status")
@login_required
def status_json() -> Any:
    return station_status(kiosk().station)


@bp.route("/session/open", methods=["GET", "POST"])
@login_required
def session_open() -> Any:
    from station.roster import villages
    from station.sessions import open_session

    if request.method == "POST":
        kode = request.form.get("kode_desa", "")
        with db() as conn:
            open_session(conn, kode, current_operator())
        flash(_("Session opened for %(desa)s.", desa=desa_name(kode)), "ok")
        return redirect(url_for("operator.search"))
    with db() as conn:
        desa = villages(conn)
    return render_template("session_open.html", villages=desa)


@bp.post("/session/close")
@login_required
def session_close() -> Any:
    from station.sessions import close_session, current_session

    with db() as conn:
        sess = current_session(conn)
        if sess is not None:
            close_session(conn, sess.id, current_operator())
    flash(_("Session closed."), "ok")
    return redirect(url_for("operator.report"))


@bp.get("/search")
@login_required
def search() -> Any:
    from station.sessions import current_session

    with db() as conn:
        sess = current_session(conn)
    if sess is None:
        flash(_("Open a session for a village first."), "warn")
        return redirect(url_for("operator.session_open"))
    return render_template("search.html", sess=sess, mode=request.args.get("mode", "nik"))


@bp.get("/api/nik")
@login_required
def check_nik() -> Any:
    """Live validation while the NIK is typed: which part is wrong, and the resident once it is complete."""
    from station.nik import InvalidNik, parse_nik
    from station.roster import find_by_nik

    text = "".join(ch for ch in request.args.get("nik", "") if ch.isdigit())[:16]
    if len(text) < 16:
        return render_template("_nik_result.html", state="typing", nik=text)
    try:
        parse_nik(text)
    except InvalidNik as exc:
        message = exc.message_en if session.get("lang") == "en" else exc.message_id
        return render_template("_nik_result.html", state="invalid", nik=text, part=exc.part,
                               span=exc.span, message=message)
    with db() as conn:
        resident = find_by_nik(conn, text)
    residents = [resident] if resident else []
    return render_template("_nik_result.html", state="found" if resident else "unknown", nik=text,
                           residents=residents, marks=_marks(residents))


@bp.get("/api/names")
@login_required
def search_names() -> Any:
    from station.roster import search_by_name
    from station.sessions import current_session

    prefix = request.args.get("q", "").strip()[:40]
    with db() as conn:
        sess = current_session(conn)
        found = search_by_name(conn, prefix, kode_desa=sess.kode_desa if sess else None, limit=6) if prefix else []
    return render_template("_nik_result.html", state="names", residents=found, nik="", marks=_marks(found))


def _marks(residents: list[Any]) -> dict[str, dict[str, Any]]:
    """What the operator must know before tapping "Record": already recorded here, a recording in progress, or
    a resident of another desa than the open session's."""
    from station.sessions import current_session

    station = kiosk().station
    drafts = {d.nik: d for d in station.enrollment.active_drafts()}
    with db() as conn:
        sess = current_session(conn)
        recorded = {r.nik for r in residents if station.outbox.has_nik(r.nik)}
    return {r.nik: {"recorded": r.nik in recorded, "draft": drafts.get(r.nik),
                    "other_desa": bool(sess and r.kode_desa != sess.kode_desa)} for r in residents}


@bp.get("/queue")
@login_required
def queue() -> Any:
    station = kiosk().station
    with db():
        items = station.outbox.list(limit=50)
    return render_template("queue.html", items=items, can_sync=_uploader() is not None,
                           status=station_status(station), local_time=local_time, **_who(items))


@bp.post("/queue/<packet_id>/slip")
@login_required
def reprint_slip(packet_id: str) -> Any:
    """Print the resident's slip again (the paper ran out, the resident came back for it)."""
    slips = kiosk().slips
    if not slips.available:
        abort(404)
    op = current_operator()
    outcome = slips.print_slip(packet_id, operator=op.username if op else "kiosk")
    if outcome.problem == "not_found":
        abort(404)
    from ui.slips import slip_problem_message

    if outcome.ok:
        flash(_("The slip was printed."), "ok")
    else:
        flash(slip_problem_message(outcome.problem), "warn")
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("operator.queue"))


def _who(items: list[Any]) -> dict[str, Any]:
    """Resident names (the station's own screens only) and short record codes for a list of outbox items."""
    from station.record_codes import codes_for
    from station.roster import find_by_nik

    with db() as conn:
        names = {}
        for item in items:
            if item.nik not in names:
                resident = find_by_nik(conn, item.nik)
                names[item.nik] = resident.nama if resident else ""
        codes = codes_for(conn, [i.packet_id for i in items])
    return {"names": names, "codes": codes}


@bp.post("/queue/sync")
@login_required
def sync_now() -> Any:
    uploader = _uploader()
    if uploader is None:
        abort(404)
    uploader.sync_now()
    audit("queue.sync_now")
    flash(_("Sending started."), "ok")
    return redirect(url_for("operator.queue"))


@bp.get("/queue/requeue/<packet_id>")
@login_required
def requeue_confirm(packet_id: str) -> Any:
    """The PIN keypad that confirms sending a rejected record again (``all`` = every rejected one)."""
    from station.outbox import REJECTED_MARKER

    outbox = kiosk().station.outbox
    with db():
        item = None if packet_id == "all" else outbox.get(packet_id)
        count = len(outbox.rejected())
    if packet_id != "all" and (item is None or not item.rejected):
        abort(404)
    reason = (item.last_error or "").removeprefix(REJECTED_MARKER) if item else ""
    return render_template("queue_requeue.html", item=item, packet_id=packet_id, reason=reason, count=count,
                           pin_length=PIN_LENGTH)


@bp.post("/queue/requeue")
@login_required
def requeue() -> Any:
    """Send packets the office rejected again: the operator confirms with their PIN (DESIGN §6)."""
    from station.operators import verify_pin
    from station.outbox import OutboxError

    op = current_operator()
    packet_id = request.form.get("packet_id", "")
    with db() as conn:
        confirmed = op is not None and verify_pin(conn, op.id, request.form.get("pin", ""))
    if not confirmed:
        flash(_("Wrong PIN: nothing was sent again."), "bad")
        return redirect(url_for("operator.queue"))
    outbox = kiosk().station.outbox
    try:
        with db():
            ids = outbox.requeue_all_rejected() if packet_id == "all" else [packet_id]
            if packet_id != "all":
                outbox.requeue(packet_id)
    except OutboxError:
        abort(404)
    audit("queue.requeue", {"packet_ids": ids})
    uploader = _uploader()
    if uploader is not None:
        uploader.sync_now()
    flash(_("%(n)d record(s) back in the queue.", n=len(ids)), "ok")
    return redirect(url_for("operator.queue"))


@bp.get("/report")
@login_required
def report() -> Any:
    station = kiosk().station
    today = datetime.now().astimezone().date()
    todays = todays_outbox(station)
    with db():
        pending = station.outbox.stats().pending
    return render_template("report.html", today=today, todays=todays, pending=pending,
                           acknowledged=sum(1 for i in todays if str(i.state) in ("acknowledged", "purged")),
                           local_time=local_time, **_who(todays))


@bp.get("/favicon.ico")
def favicon() -> Any:
    """Browsers ask for it on every page; the kiosk's icon is an SVG in static/."""
    from flask import current_app, send_from_directory

    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml")


def _uploader() -> Any:
    uploader = getattr(kiosk().station, "uploader", None)
    return uploader if uploader is not None and hasattr(uploader, "sync_now") else None


