"""Hardware tier (STYLE §9): the camera checks against a real camera on a Pi. Runs only when set:

    JEMPUT_HW_CAMERA=opencv:/dev/v4l/by-id/usb-...-video-index0    (or opencv:0, or picamera2)

Sit in front of the camera, on the backdrop, while it runs: it expects live frames and one face.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from device_drivers.base import Health
from device_drivers.camera import open_camera
from station.quality.photo import PhotoChecker

CAMERA = os.environ.get("JEMPUT_HW_CAMERA")

pytestmark = [pytest.mark.hardware,
              pytest.mark.skipif(not CAMERA, reason="hardware tier: set JEMPUT_HW_CAMERA to run")]


def test_real_camera_delivers_live_frames_with_one_face() -> None:
    backend, _, source = (CAMERA or "").partition(":")
    with open_camera(backend, source or "0", 640, 480) as cam:
        assert cam.status().health is Health.OK, cam.status().reason
        frames = [cam.read() for _ in range(10)]
    for frame in frames:
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.1  # live, not a frozen buffer
    checker = PhotoChecker()
    assert any(checker.check(f).check("one_face").passed for f in frames)
