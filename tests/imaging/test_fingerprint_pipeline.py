"""End to end: synthetic finger -> emulated R30x on a real pty -> the real driver (4-bit wire format) -> score.

This is the path the kiosk takes in --simulate; the score must separate good from bad fingers here too, not only
on images handed over in memory.
"""

from __future__ import annotations

import pytest

from device_drivers.fingerprint import R30xSensor
from device_drivers.fingerprint.emulator import FakeR30x
from station.quality.fingerprint import fingerprint_score


@pytest.mark.parametrize(("model", "shape"), [("R307", (288, 256)), ("R503", (192, 192))])
def test_scores_through_the_real_driver(model: str, shape: tuple[int, int]) -> None:
    with FakeR30x(model, pace=False) as fake, R30xSensor(fake.port) as sensor:
        scores = {}
        for quality in ("good", "partial", "smudged"):
            for seed in (1, 2):
                fake.place_finger(quality, seed=seed)
                image = sensor.capture_image(timeout=10.0)
                fake.lift_finger()
                assert image.shape == shape
                assert set(image.ravel().tolist()) <= {v * 17 for v in range(16)}  # 4-bit nibbles x 17
                scores[quality, seed] = fingerprint_score(image, sensor_ok=True).score
    for seed in (1, 2):
        assert scores["good", seed] >= 60, scores
        assert scores["partial", seed] < 40, scores
        assert scores["smudged", seed] < 40, scores
