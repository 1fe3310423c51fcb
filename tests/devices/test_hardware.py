"""Hardware tier: the same checks against real parts on a Pi (STYLE §9). Runs only when JEMPUT_HW_* is set.

    JEMPUT_HW_SIGPAD=/dev/jemput-sigpad          sign on the pad while the test listens (10 s)
    JEMPUT_HW_BATTERY=ina219:1:0x42              or max1704x:1:0x36, or pisugar:127.0.0.1:8423
"""

from __future__ import annotations

import os

import pytest

from device_drivers.battery import open_battery
from device_drivers.signature_pad import PadBounds, TopazPad, assemble_strokes

pytestmark = pytest.mark.hardware

SIGPAD = os.environ.get("JEMPUT_HW_SIGPAD")
BATTERY = os.environ.get("JEMPUT_HW_BATTERY")


@pytest.mark.skipif(not SIGPAD, reason="hardware tier: set JEMPUT_HW_SIGPAD to a Topaz pad's port")
def test_real_signature_pad_delivers_strokes():
    with TopazPad(SIGPAD) as pad:
        print("sign on the pad now (10 s)")
        points = pad.collect(10.0)
    strokes = assemble_strokes(points)
    assert len(strokes) >= 1, "no pen-down points: is the pad on this port, and at 19200 8O1?"
    bounds = PadBounds()
    inside = [p for s in strokes for p in s if bounds.x_min <= p.x <= bounds.x_max
              and bounds.y_min <= p.y <= bounds.y_max]
    assert len(inside) > 0.9 * sum(len(s) for s in strokes), "points fall outside the calibrated area"


@pytest.mark.skipif(not BATTERY, reason="hardware tier: set JEMPUT_HW_BATTERY=kind:bus:address or pisugar:host:port")
def test_real_battery_reading_is_plausible():
    kind, a, b = BATTERY.split(":")
    if kind == "pisugar":
        battery = open_battery(kind, pisugar_host=a, pisugar_port=int(b))
    else:
        battery = open_battery(kind, bus=int(a), address=int(b, 0))
    with battery:
        reading = battery.read()
    assert 0.0 <= reading.percent <= 100.0
    assert 2.5 <= reading.voltage_v <= 9.0
