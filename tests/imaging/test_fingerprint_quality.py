"""Synthetic fingerprints and their quality score, after the sensor's 4-bit quantisation, at both sensor sizes."""

from __future__ import annotations

import numpy as np
import pytest

from device_drivers.fingerprint.synthetic import QUALITIES, synthetic_fingerprint
from station.quality.fingerprint import REASONS, fingerprint_score

SIZES = [(256, 288), (192, 192)]  # R307, R503 (width, height)
SEEDS = range(12)
THRESHOLD = 40  # the default [devices.fingerprint] quality_threshold


def sensor(image: np.ndarray) -> np.ndarray:
    """What the driver hands over: 4-bit nibbles v, scaled back as v * 17."""
    return image // 17 * 17


@pytest.mark.parametrize("size", SIZES)
def test_synthetic_image_shape_and_determinism(size: tuple[int, int]) -> None:
    w, h = size
    a = synthetic_fingerprint(w, h, "good", seed=5)
    assert a.shape == (h, w) and a.dtype == np.uint8
    assert np.array_equal(a, synthetic_fingerprint(w, h, "good", seed=5))
    assert not np.array_equal(a, synthetic_fingerprint(w, h, "good", seed=6))


def test_synthetic_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="quality"):
        synthetic_fingerprint(256, 288, "wet")
    with pytest.raises(ValueError, match="too small"):
        synthetic_fingerprint(16, 16)


@pytest.mark.parametrize("size", SIZES)
def test_good_finger_has_dark_ridges_at_fingerprint_spacing(size: tuple[int, int]) -> None:
    w, h = size
    img = sensor(synthetic_fingerprint(w, h, "good", seed=2)).astype(np.float32)
    corners = np.concatenate([img[:8, :8].ravel(), img[:8, -8:].ravel(), img[-8:, :8].ravel(), img[-8:, -8:].ravel()])
    centre = img[h // 2 - 32:h // 2 + 32, w // 2 - 32:w // 2 + 32]
    assert corners.mean() > 200  # light background
    assert centre.mean() < corners.mean() - 40 and centre.min() <= 51  # dark ridges on the pad
    assert len(np.unique(centre)) >= 8  # still a grey image after 4-bit quantisation
    # Dominant spatial period of the centre patch: 500 dpi ridge spacing is ~7-11 pixels.
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(centre - centre.mean())))
    fy, fx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    radius = np.hypot(fy - 32, fx - 32)
    assert 64 / 12 <= radius <= 64 / 6, radius


@pytest.mark.parametrize("size", SIZES)
def test_partial_touches_a_small_area_at_an_edge(size: tuple[int, int]) -> None:
    w, h = size
    for seed in range(6):
        img = sensor(synthetic_fingerprint(w, h, "partial", seed))
        dark = img < 150
        assert dark.mean() < 0.35 * 0.7
        edges = [dark[:4].any(), dark[-4:].any(), dark[:, :4].any(), dark[:, -4:].any()]
        assert any(edges)


@pytest.mark.parametrize("size", SIZES)
def test_good_fingers_pass_and_bad_ones_fail_across_seeds(size: tuple[int, int]) -> None:
    w, h = size
    scores = {q: [fingerprint_score(sensor(synthetic_fingerprint(w, h, q, s))) for s in SEEDS] for q in QUALITIES}
    assert min(r.score for r in scores["good"]) >= 60, [r.score for r in scores["good"]]
    assert max(r.score for r in scores["partial"]) < THRESHOLD, [r.score for r in scores["partial"]]
    assert max(r.score for r in scores["smudged"]) < THRESHOLD, [r.score for r in scores["smudged"]]
    for r in scores["good"]:
        assert r.reasons == [] and r.foreground_fraction > 0.45 and r.coherence > 0.7
    for r in scores["partial"]:
        assert "small_area" in r.reasons and r.foreground_fraction < 0.35
    for r in scores["smudged"]:
        assert "low_contrast" in r.reasons and r.foreground_fraction > 0.4  # the finger is there, ridges are not


def test_score_works_without_quantisation_too() -> None:
    assert fingerprint_score(synthetic_fingerprint(256, 288, "good", 3)).score >= 60


def test_sensor_rejection_caps_the_score() -> None:
    img = sensor(synthetic_fingerprint(256, 288, "good", 1))
    fine = fingerprint_score(img, sensor_ok=True)
    rejected = fingerprint_score(img, sensor_ok=False)
    assert fine.score >= 60 and fine == fingerprint_score(img)
    assert rejected.score <= 10 and "sensor_rejected" in rejected.reasons
    assert rejected.hints("en")[-1] == REASONS["sensor_rejected"][1]


def test_empty_window_and_noise_score_zero() -> None:
    blank = np.full((288, 256), 238, np.uint8)
    r = fingerprint_score(blank)
    assert r.score == 0 and r.foreground_fraction == 0 and "small_area" in r.reasons
    noise = sensor(np.random.default_rng(0).integers(0, 256, (288, 256), dtype=np.uint8))
    r = fingerprint_score(noise)
    assert r.score < 10 and "unclear_ridges" in r.reasons


def test_hints_and_serialisation() -> None:
    r = fingerprint_score(sensor(synthetic_fingerprint(256, 288, "partial", 0)))
    assert r.hints("id")[0] == "Letakkan jari lebih rata, tutupi seluruh sensor"
    assert r.as_dict()["score"] == r.score and r.as_dict()["reasons"] == r.reasons


def test_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError):
        fingerprint_score(np.zeros((288, 256, 3), np.uint8))
    with pytest.raises(ValueError):
        fingerprint_score(np.zeros((20, 20), np.uint8))
