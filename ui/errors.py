"""Residents and operators read Indonesian (or English), never a developer's exception text: every station error
class maps to a translated message here; the English detail goes to the log only."""

from __future__ import annotations

import logging

from flask_babel import get_locale
from flask_babel import gettext as _

log = logging.getLogger(__name__)


def error_kind(exc: BaseException) -> str:
    """A stable key for ``exc`` (also what capture workers publish as ``error`` on their events)."""
    from station.devices import DeviceUnavailable
    from station.enrollment import DuplicateResident, EnrollmentError, StartRefused, StepError
    from station.errors import StorageFull
    from station.outbox import UnknownPacket
    from station.sessions import SessionError

    text = str(exc).lower()
    if isinstance(exc, StorageFull):
        return "storage_full"
    if isinstance(exc, StartRefused):
        return f"start_{exc.kind}" if exc.kind in ("locked", "battery", "not_provisioned") else "start_refused"
    if isinstance(exc, DuplicateResident):
        return "duplicate"
    if isinstance(exc, StepError):
        return "step"
    if isinstance(exc, EnrollmentError) and text.startswith("no draft") or isinstance(exc, UnknownPacket | LookupError):
        return "not_found"
    if isinstance(exc, EnrollmentError):
        return "enrollment"
    if isinstance(exc, DeviceUnavailable):
        return "device"
    if isinstance(exc, SessionError):
        return "session"
    return "internal"


def kind_message(kind: str) -> str:
    """The translated message for an ``error_kind`` key (the kiosk's JS gets these through ``capture_messages``)."""
    messages = {
        "storage_full": _("The station's storage is full. Nothing saved is lost. Ask the supervisor to send the "
                          "records and free space."),
        "start_locked": _("The office has locked this station: new recordings are paused. Ask the supervisor."),
        "start_battery": _("The battery is too low to start a new recording. Connect mains power; a recording "
                           "already started can be finished."),
        "start_not_provisioned": _("This station is not set up yet (no office key): new recordings are paused. "
                                   "Ask the supervisor."),
        "start_refused": _("New recordings are paused on this station. Ask the supervisor."),
        "duplicate": _("This resident is already recorded at this station."),
        "step": _("This step is not available now. Continue where the recording is."),
        "not_found": _("This recording or record was not found. It may already be finished or cancelled."),
        "enrollment": _("The recording could not continue as asked. Nothing saved is lost."),
        "device": _("A device is not working. Check its cable; we will continue when it is back."),
        "session": _("The session cannot be changed like that. Check the open session on the home screen."),
        "internal": _("Something went wrong on the station. Nothing saved is lost; please try again."),
    }
    return messages.get(kind, messages["internal"])


def user_message(exc: BaseException) -> str:
    """What to show for ``exc``: translated, never ``str(exc)``; the English detail is logged."""
    kind = error_kind(exc)
    log.warning("refused (%s): %s: %s", kind, type(exc).__name__, exc)
    if kind == "device":
        reason = getattr(exc, "reason_en", "") if str(get_locale() or "id") == "en" else getattr(exc, "reason_id", "")
        if reason:
            return str(reason)
    return kind_message(kind)


CAPTURE_KINDS = ("storage_full", "enrollment", "step", "internal")


def capture_messages() -> dict[str, str]:
    """Messages for the capture workers' ``error`` keys, for kiosk.js."""
    return {f"error_{k}": kind_message(k) for k in CAPTURE_KINDS}
