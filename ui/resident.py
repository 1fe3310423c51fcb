"""The resident flow as a stepper: confirm + consent -> photo -> ten fingers -> signature -> review -> done.

The server-side draft (``station.enrollment``) is the truth: every step page first loads the draft and, if the
draft is elsewhere, redirects there, so a reload or a restarted station lands on the same step. Captures run in
``station.capture`` workers; these views only start them, show their state and pass the operator's decisions on.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from station.fingers import CAPTURE_ORDER, Finger
from ui import kiosk
from ui.helpers import audit, current_operator, db, login_required

bp = Blueprint("resident", __name__, url_prefix="/enroll")

STEPS = ("confirm", "photo", "fingerprints", "signature", "review")
EXCEPTION_REASONS = ("amputated", "bandaged", "unreadable")
CANCEL_REASONS = ("resident_left", "wrong_person", "device_problem", "other")


def _service() -> Any:
    return kiosk().station.enrollment


def _draft(draft_id: str) -> Any:
    return _service().get(draft_id)


def _step_url(draft: Any) -> str:
    step = str(draft.step)
    if step == "done" or str(getattr(draft, "status", "active")) != "active":
        return url_for("operator.home")
    return url_for(f"resident.{step}", draft_id=draft.id)


def _at(draft_id: str, step: str) -> tuple[Any, Any]:
    """The draft, or a redirect when it is at another step (reloads and restarts land where the work is)."""
    draft = _draft(draft_id)
    if str(draft.step) != step:
        return draft, redirect(_step_url(draft))
    return draft, None


def _render(template: str, draft: Any, **kw: Any) -> str:
    return render_template(template, draft=draft, steps=STEPS, step=str(draft.step),
                           cancel_reasons=CANCEL_REASONS, **kw)


@bp.post("/start")
@login_required
def start() -> Any:
    from station.roster import find_by_nik
    from station.sessions import current_session

    nik = request.form.get("nik", "")
    with db() as conn:
        sess = current_session(conn)
        resident = find_by_nik(conn, nik)
    if sess is None:
        return redirect(url_for("operator.session_open"))
    if resident is None:
        flash(_("No resident with NIK %(nik)s in the roster.", nik=nik), "warn")
        return redirect(url_for("operator.search"))
    existing = next((d for d in _service().active_drafts() if d.nik == nik), None)
    if existing is not None:
        return redirect(_step_url(existing))
    from station.enrollment import DuplicateResident, StartRefused

    try:
        with db():
            draft = _service().start(sess.id, resident, current_operator())
    except DuplicateResident:
        flash(_("%(name)s is already recorded at this station.", name=resident.nama), "warn")
        return redirect(url_for("operator.search"))
    except StartRefused as exc:
        flash(_start_refused_message(exc), "warn")
        return redirect(url_for("operator.search"))
    return redirect(_step_url(draft))


def _start_refused_message(exc: Exception) -> str:
    """The translated reason (locked, battery, not provisioned); the English detail only goes to the log."""
    from ui.errors import kind_message, user_message

    power = getattr(kiosk().station, "power", None)
    if power is not None and not power.allows_new_enrollment():
        return kind_message("start_battery")
    return user_message(exc)


@bp.get("/<draft_id>")
@login_required
def resume(draft_id: str) -> Any:
    """Pick up an unfinished recording (after a restart, an idle logout or from another screen)."""
    with db():
        draft = _service().resume(draft_id)
    return redirect(_step_url(draft))


@bp.route("/<draft_id>/confirm", methods=["GET", "POST"])
@login_required
def confirm(draft_id: str) -> Any:
    draft, away = _at(draft_id, "confirm")
    if away:
        return away
    if request.method == "POST":
        if request.form.get("consent") != "yes":
            flash(_("The resident must agree before we record."), "warn")
            return redirect(url_for("resident.confirm", draft_id=draft_id))
        with db():
            draft = _service().confirm(draft_id, consent=True)
        return redirect(_step_url(draft))
    return _render("enroll/confirm.html", draft)


@bp.get("/<draft_id>/photo")
@login_required
def photo(draft_id: str) -> Any:
    draft, away = _at(draft_id, "photo")
    if away:
        return away
    kiosk().capture.photo(draft_id)
    return _render("enroll/photo.html", draft)


@bp.get("/<draft_id>/photo.jpg")
@login_required
def photo_jpeg(draft_id: str) -> Any:
    """The accepted photo, from memory only (it is sealed on disk); 404 after a restart."""
    jpeg = kiosk().capture.previews.photo(draft_id)
    if jpeg is None:
        abort(404)
    return jpeg, 200, {"Content-Type": "image/jpeg", "Cache-Control": "no-store"}


@bp.get("/<draft_id>/fingerprints")
@login_required
def fingerprints(draft_id: str) -> Any:
    draft, away = _at(draft_id, "fingerprints")
    if away:
        return away
    worker = kiosk().capture.fingers(draft_id)
    return _render("enroll/fingers.html", draft, fingers=_finger_rows(draft), order=CAPTURE_ORDER,
                   current=draft.next_finger, worker=worker.state(), reasons=EXCEPTION_REASONS,
                   has_photo=kiosk().capture.previews.photo(draft_id) is not None)


@bp.post("/<draft_id>/fingerprints/exception")
@login_required
def finger_exception(draft_id: str) -> Any:
    """A finger that cannot be captured (amputated, bandaged, unreadable), confirmed with the operator's PIN."""
    from station.operators import verify_pin

    draft, away = _at(draft_id, "fingerprints")
    if away:
        return away
    reason = request.form.get("reason", "")
    finger = Finger(int(request.form.get("finger", "0") or 0)) if request.form.get("finger") else draft.next_finger
    op = current_operator()
    if reason not in EXCEPTION_REASONS or finger is None:
        abort(400)
    with db() as conn:
        ok = verify_pin(conn, op.id, request.form.get("pin", ""))
    if not ok:
        audit("finger.exception_refused", {"draft_id": draft_id, "finger": finger.code, "reason": reason})
        flash(_("Wrong PIN: the exception was not recorded."), "warn")
        return redirect(url_for("resident.fingerprints", draft_id=draft_id))
    kiosk().capture.fingers(draft_id).skip(finger)
    with db():
        draft = _service().record_finger_exception(draft_id, finger, reason, confirmed_by=op)
    audit("finger.exception", {"draft_id": draft_id, "finger": finger.code, "reason": reason})
    return redirect(_step_url(draft))


@bp.get("/<draft_id>/signature")
@login_required
def signature(draft_id: str) -> Any:
    draft, away = _at(draft_id, "signature")
    if away:
        return away
    worker = kiosk().capture.signature(draft_id)
    return _render("enroll/signature.html", draft, worker=worker.state(), extent=worker.extent)


@bp.get("/<draft_id>/signature/points")
@login_required
def signature_points(draft_id: str) -> Any:
    """Ink so far (memory only), so a reloaded page redraws what the resident already wrote."""
    worker = kiosk().capture.signature(draft_id)
    return jsonify(points=worker.compact_points(), extent=worker.extent)


@bp.post("/<draft_id>/signature/<action>")
@login_required
def signature_action(draft_id: str, action: str) -> Any:
    draft, away = _at(draft_id, "signature")
    if away:
        return away
    worker = kiosk().capture.signature(draft_id)
    if action == "redo":
        worker.clear()
        return redirect(url_for("resident.signature", draft_id=draft_id))
    if action != "accept":
        abort(404)
    verdict = worker.accept()
    if verdict is not None:
        flash(verdict.reason_en if str(get_locale()) == "en" else verdict.reason_id, "warn")
        return redirect(url_for("resident.signature", draft_id=draft_id))
    return redirect(url_for("resident.review", draft_id=draft_id))


@bp.get("/<draft_id>/signature.png")
@login_required
def signature_png(draft_id: str) -> Any:
    png = kiosk().capture.previews.signature(draft_id)
    if png is None:
        abort(404)
    return png, 200, {"Content-Type": "image/png", "Cache-Control": "no-store"}


@bp.route("/<draft_id>/review", methods=["GET", "POST"])
@login_required
def review(draft_id: str) -> Any:
    draft, away = _at(draft_id, "review")
    if away:
        return away
    if request.method == "POST":
        with db():
            packet_id = _service().finish(draft_id)
        kiosk().capture.forget(draft_id)
        op = current_operator()
        kiosk().slips.print_async(packet_id, operator=op.username if op else "kiosk")  # nothing without a printer
        return redirect(url_for("resident.done", packet_id=packet_id))
    previews = kiosk().capture.previews
    return _render("enroll/review.html", draft, fingers=_finger_rows(draft),
                   has_photo=previews.photo(draft_id) is not None,
                   has_signature=previews.signature(draft_id) is not None)


@bp.get("/done/<packet_id>")
@login_required
def done(packet_id: str) -> Any:
    from station.record_codes import code_for
    from station.roster import find_by_nik

    with db() as conn:
        item = kiosk().station.outbox.get(packet_id)
        if item is None:
            abort(404)
        code = code_for(conn, packet_id)
        resident = find_by_nik(conn, item.nik)
    slips = kiosk().slips
    return render_template("enroll/done.html", item=item, code=code, resident=resident, record=record_state(item),
                           slip=slips.outcome(packet_id), printing=slips.printing(packet_id))


def record_state(item: Any) -> str:
    """Where the record is, in the words of the done screen: sealed, sending, received (or refused)."""
    if item.rejected:
        return "rejected"
    return {"uploading": "sending", "acknowledged": "received", "purged": "received"}.get(str(item.state), "sealed")


@bp.get("/done/<packet_id>/state")
@login_required
def done_state(packet_id: str) -> Any:
    """The done screen follows the record live (SSE carries the sync events; this is its fallback poll)."""
    with db():
        item = kiosk().station.outbox.get(packet_id)
    if item is None:
        abort(404)
    slips = kiosk().slips
    outcome = slips.outcome(packet_id)
    return jsonify(record=record_state(item), printing=slips.printing(packet_id),
                   slip=None if outcome is None else {"ok": outcome.ok, "problem": outcome.problem})


@bp.post("/<draft_id>/back/<step>")
@login_required
def back(draft_id: str, step: str) -> Any:
    """Retake the photo / go back a step; the confirmation happened on the page."""
    from station.enrollment import Step

    if step not in STEPS[1:4]:
        abort(400)
    kiosk().capture.forget(draft_id, keep_photo=step != "photo")
    with db():
        draft = _service().back_to(draft_id, Step(step))
    audit("enroll.back", {"draft_id": draft_id, "step": step})
    return redirect(_step_url(draft))


@bp.post("/<draft_id>/cancel")
@login_required
def cancel(draft_id: str) -> Any:
    reason = request.form.get("reason", "")
    if reason not in CANCEL_REASONS:
        abort(400)
    kiosk().capture.forget(draft_id)
    with db():
        _service().cancel(draft_id, operator=current_operator(), reason=reason)
    flash(_("The recording was cancelled."), "info")
    return redirect(url_for("operator.search"))


GOOD_SCORE = 70
"""A finger at or above this quality reads "good" on the review; at or above the threshold "acceptable"."""


def finger_grade(score: Any, forced: bool, threshold: int) -> str | None:
    """``good`` / ``acceptable`` / ``weak`` (kept as the best of the attempts, below the threshold)."""
    if score is None:
        return None
    if forced or score < threshold:
        return "weak"
    return "good" if score >= max(GOOD_SCORE, threshold) else "acceptable"


def _finger_rows(draft: Any) -> list[dict[str, Any]]:
    """One row per finger for the hand diagram and the review map."""
    threshold = kiosk().station.config.devices.fingerprint.quality_threshold
    rows = []
    for finger in Finger:
        info = draft.fingers.get(finger) or draft.fingers.get(finger.code) or {}
        exception = info.get("exception")
        rows.append({
            "finger": finger, "code": finger.code, "score": info.get("score"),
            "attempts": info.get("attempts"), "forced": bool(info.get("force_captured")),
            "exception": exception.get("reason") if isinstance(exception, dict) else exception,
            "done": bool(info), "current": finger == draft.next_finger,
            "grade": finger_grade(info.get("score"), bool(info.get("force_captured")), threshold),
        })
    return rows
