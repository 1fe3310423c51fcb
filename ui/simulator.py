"""Simulator panel (only when the station runs with ``--simulate``): drive the emulated devices by hand.

Calls ``station.devices.simulator`` (E), which talks to the emulators on their pseudo-terminals, so what the panel
does goes through the real drivers exactly like a finger on a real sensor.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from ui import kiosk
from ui.helpers import audit

bp = Blueprint("simulator", __name__, url_prefix="/sim")

QUALITIES = ("good", "partial", "smudged")
DEVICES = ("fingerprint", "signature_pad", "camera")
SCENES = ("portrait", "no_face", "dark", "off_centre")


def _sim() -> Any:
    return kiosk().station.devices.simulator


@bp.get("")
def panel() -> Any:
    return render_template("simulator.html", qualities=QUALITIES, devices=DEVICES, scenes=SCENES, standalone=True)


@bp.post("/<action>")
def act(action: str) -> Any:
    sim = _sim()
    arg = request.form.get("arg", "")
    if action == "place_finger" and arg in QUALITIES:
        sim.place_finger(arg)
    elif action in ("lift_finger", "sign", "cut_mains", "restore_mains"):
        getattr(sim, action)()
    elif action in ("unplug", "replug") and arg in DEVICES:
        getattr(sim, action)(arg)
    elif action == "scene" and arg in SCENES and hasattr(sim, "set_scene"):
        sim.set_scene(arg)
    elif action == "battery" and arg.isdigit() and 0 <= int(arg) <= 100:
        sim.set_battery_percent(int(arg))
        power = getattr(kiosk().station, "power", None)
        if power is not None:
            power.poll()   # show the new charge now, not at the next 30 s poll
    else:
        abort(400)
    audit("simulator." + action, {"arg": arg}, actor="simulator")
    return {"ok": True, "action": action, "arg": arg}
