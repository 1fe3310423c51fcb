"""Capture glue without a browser: the signature image, and the finger-presence check over the real driver and the
emulated sensor on a real pseudo-terminal."""

from __future__ import annotations

import cv2
import numpy as np

from device_drivers.fingerprint import R30xSensor
from device_drivers.fingerprint.emulator import FakeR30x
from device_drivers.signature_pad.emulator import generate_signature
from device_drivers.signature_pad.protocol import PenPoint
from device_drivers.signature_pad.strokes import SIGLITE_T_S460
from station.capture import PreviewCache, finger_present, render_signature


def test_signature_png_has_the_ink_where_the_pen_went() -> None:
    strokes = generate_signature("Siti Aminah", seed=3)
    points = [PenPoint(x, y, 1, True, i * 0.01) for i, (x, y) in enumerate(p for s in strokes[:1] for p in s)]
    png = render_signature(points, SIGLITE_T_S460)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (200, 720)
    ink = np.argwhere(image < 128)
    assert len(ink) > 100
    xs = [(p.x - 500) / 2150 * 719 for p in points]
    assert abs(ink[:, 1].min() - min(xs)) < 4 and abs(ink[:, 1].max() - max(xs)) < 4
    assert render_signature([], SIGLITE_T_S460) != png  # blank pad: a blank image, not an error


def test_finger_present_follows_the_emulated_finger() -> None:
    fake = FakeR30x("R503", pace=False).start()
    try:
        with R30xSensor(fake.port) as sensor:
            assert finger_present(sensor) is False
            fake.place_finger("good")
            assert finger_present(sensor) is True
            fake.lift_finger()
            assert finger_present(sensor) is False
    finally:
        fake.close()


def test_preview_cache_forgets_a_draft_entirely() -> None:
    cache = PreviewCache()
    cache.put("d1", "photo", b"jpeg")
    cache.put("d1", "signature", b"png")
    cache.put("d2", "photo", b"other")
    cache.forget("d1")
    assert cache.photo("d1") is None and cache.signature("d1") is None and cache.photo("d2") == b"other"
