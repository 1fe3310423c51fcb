"""Unlocking a locked-out operator at the kiosk: another supervisor confirms with their own PIN.

Five wrong PINs lock an operator for minutes (``station.operators``); in a village hall the team cannot wait, and
the terminal command is out of reach on a kiosk. A supervisor's PIN goes through the same ``authenticate`` (so it
is rate-limited and locked out like any log-in) and the unlock is in the audit log under the supervisor's name.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ui.helpers import db

bp = Blueprint("unlock", __name__)


def unlockers(conn: Any, username: str) -> list[Any]:
    """Supervisors who could unlock ``username`` (anyone active with the role, except the locked one)."""
    from station.operators import Role, list_operators

    return [o for o in list_operators(conn) if o.role == Role.SUPERVISOR and o.username != username]


@bp.route("/login/<username>/unlock", methods=["GET", "POST"])
def unlock(username: str) -> Any:
    from station.operators import OperatorLocked, WrongPin, authenticate, list_operators, unlock_operator

    with db() as conn:
        op = next((o for o in list_operators(conn) if o.username == username), None)
        helpers = unlockers(conn, username)
    if op is None or not helpers:
        abort(404)
    error = None
    if request.method == "POST":
        chosen = request.form.get("supervisor", "")
        if chosen not in {h.username for h in helpers}:
            error = _("Choose the supervisor who unlocks.")
        else:
            try:
                with db() as conn:
                    authenticate(conn, chosen, request.form.get("pin", ""))
                    unlock_operator(conn, username, actor=chosen)
            except WrongPin as exc:
                error = _("Wrong PIN. %(n)d attempts left.", n=exc.remaining_attempts)
            except OperatorLocked:
                error = _("This supervisor is locked too. Wait, or ask another supervisor.")
            else:
                flash(_("%(name)s is unlocked. Type your PIN.", name=op.display_name), "ok")
                return redirect(url_for("operator.pin", username=username))
    return render_template("unlock.html", op=op, helpers=helpers, error=error, pin_length=6,
                           chosen=request.form.get("supervisor") or (helpers[0].username if len(helpers) == 1 else ""))
