"""Words for what the dashboard shows: command names and states, timeline lines (template globals)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import gettext as _

from office.web.format import duration


def command_label(name: str) -> str:
    return {"sync-now": _("Send records now"), "lock": _("Lock"), "unlock": _("Unlock"),
            "message": _("Message"), "requeue": _("Requeue refused records"), "report": _("Report")}.get(name, name)


def command_state_text(command: Any) -> str:
    state = command.state.value
    if state == "ok":
        return _("done (station answered)")
    if state == "failed":
        reply = command.reply or {}
        return _("refused by the station: %(why)s", why=reply.get("message") or reply.get("error") or "?")
    return {"sent": _("sent, waiting for the answer"),
            "waiting": _("waits for the station (offline)"),
            "no_answer": _("no answer yet"),
            "expired": _("expired without an answer"),
            "not_sent": _("not sent: no connection to the broker")}.get(state, state)


_EVENTS = {
    "device_fault": lambda d: _("Device fault: %(device)s", device=d.get("device", "?")),
    "battery_low": lambda d: _("Battery low (%(pct)s%%)", pct=_whole(d.get("battery_percent"))),
    "disk_low": lambda d: _("Storage low (%(mb)s MB free)", mb=d.get("free_mb", "?")),
    "power_source": lambda d: _("Power source changed"),
    "mains_lost": lambda d: _("Mains power lost"),
    "mains_restored": lambda d: _("Mains power back"),
    "packet_rejected": lambda d: _("The office refused a record"),
    "sync_failed": lambda d: _("Sending records failed (will retry)"),
}


def _whole(value: Any) -> Any:
    return round(value) if isinstance(value, int | float) else "?"


def timeline_text(item: Any) -> str:
    d = item.detail or {}
    if item.kind == "state":
        return _("Came online") if item.title == "online" else _("Went offline")
    if item.kind == "upload":
        return _("%(n)d records received", n=d.get("count", 0))
    if item.kind == "rejected":
        return _("Record %(id)s refused: %(why)s", id=(item.title or "?")[:8], why=d.get("reason", "?"))
    if item.kind == "command":
        return _("Command “%(name)s” by %(who)s: %(state)s", name=command_label(item.title), who=d.get("by", "?"),
                 state=_state_word(d.get("state", "")))
    text = _EVENTS.get(item.title)
    if text is not None:
        return text(d)
    extra = ", ".join(f"{k}: {v}" for k, v in list(d.items())[:3])
    return f"{item.title}" + (f" ({extra})" if extra else "")


def _state_word(state: str) -> str:
    return {"ok": _("done"), "failed": _("refused"), "sent": _("sent"), "waiting": _("waiting"),
            "no_answer": _("no answer yet"), "expired": _("expired"), "not_sent": _("not sent")}.get(state, state)


def init_texts(app: Flask) -> None:
    app.add_template_global(command_label)
    app.add_template_global(command_state_text)
    app.add_template_global(timeline_text)
    app.add_template_global(duration)
    app.add_template_global(row_labels)


def row_labels() -> dict[str, str]:
    """Every word a station row or card needs, translated once per request (500 rows must not mean 20,000
    gettext look-ups)."""
    from flask import g

    cached = g.get("_row_labels")
    if cached is not None:
        return cached
    labels = {
        "online": _("online"), "offline": _("offline"), "never_seen": _("never seen"), "locked": _("locked"),
        "simulated": _("simulated"), "sim_title": _("A simulated station (demo)"), "mains": _("mains"),
        "battery": _("battery"), "no_session": _("no session"), "recorded": _("%(n)d recorded"),
        "open_alerts": _("Open alerts"), "never": _("never"), "left": _("%(t)s left"), "oldest": _("oldest %(t)s"),
        "last_seen": _("Last seen"), "battery_label": _("Battery"), "waiting": _("Waiting to send"),
        "session": _("Session"), "devices": _("Devices"), "free_storage": _("Free storage"),
        "dev_camera": _("camera"), "dev_fingerprint": _("finger"), "dev_signature_pad": _("sign pad"),
        "dev_battery": _("battery"), "h_ok": _("ok"), "h_absent": _("not connected"), "h_fault": _("fault"),
    }
    g._row_labels = labels
    return labels
