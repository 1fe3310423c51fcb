"""The resident's slip on the kiosk: print / reprint from the done screen, and the words for what went wrong.

The printing itself is ``station.slips.SlipPrinter`` (on ``kiosk().slips``); without a configured printer nothing
here is offered and the routes answer 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, url_for
from flask_babel import gettext as _

from ui import kiosk
from ui.helpers import audit, current_operator, login_required

bp = Blueprint("slips", __name__)


def slip_problem_message(problem: str | None) -> str:
    messages = {
        "paper_out": _("Out of paper. Put in a new roll, close the cover, then print again."),
        "cover_open": _("The printer cover is open. Close it, then print again."),
        "offline": _("The printer is not ready. Check it, then print again."),
        "absent": _("The printer is not connected. Check its cable, then print again."),
        "not_found": _("This record was not found."),
    }
    return messages.get(problem or "", messages["offline"])


def slip_messages() -> dict[str, str]:
    """For kiosk.js: the done screen updates as the slip prints (``slip.*`` events)."""
    words = {f"slip_{p}": slip_problem_message(p) for p in ("paper_out", "cover_open", "offline", "absent")}
    words["slip_printed"] = _("The slip is printed. Give it to the resident.")
    words["slip_printing"] = _("Printing the slip…")
    return words


@bp.post("/done/<packet_id>/slip")
@login_required
def print_slip(packet_id: str) -> Any:
    slips = kiosk().slips
    if not slips.available:
        abort(404)
    with kiosk().station.db_lock:
        item = kiosk().station.outbox.get(packet_id)
    if item is None:
        abort(404)
    op = current_operator()
    slips.print_async(packet_id, operator=op.username if op else "kiosk")
    audit("slip.print_requested", {"packet_id": packet_id})
    return redirect(url_for("resident.done", packet_id=packet_id))
