"""Synthetic fingerprint images for the sensor emulator.

The emulator needs a plausible finger on every capture so that the real driver, the quality score and the UI see
ridges, not noise. Ridges grow from random noise by orientation-steered Gabor filtering (the SFinGe idea): an
orientation field from a core/delta zero-pole model picks, per pixel, which of a bank of oriented Gabor responses
to keep; three rounds turn noise into continuous ridges with natural minutiae. numpy + cv2 only, ~10-20 ms for
256x288, so it can run per capture.

Qualities: ``good`` (full pad, crisp), ``partial`` (only a small part of the pad touches, at an edge) and
``smudged`` (ridges washed out: heavy blur, low contrast, blotches). The differences are large enough to survive
the sensor's 4-bit quantisation (``v // 17 * 17``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

QUALITIES = ("good", "partial", "smudged")

_ORIENTATION_BINS = 12
_RIDGE_PERIOD_PX = 8.5  # ~500 dpi sensors: ridge spacing 0.4-0.5 mm
_ROUNDS = 3


@lru_cache(maxsize=4)
def _gabor_bank(period_px: float, bins: int) -> tuple[np.ndarray, ...]:
    """Even-symmetric Gabor kernels, zero-mean, one per ridge orientation bin."""
    sigma = period_px * 0.45
    size = int(2 * round(2.2 * sigma) + 1)
    kernels = []
    for i in range(bins):
        # cv2 theta is the normal to the stripes: ridges along angle a need theta = a + 90 deg.
        theta = math.pi * i / bins + math.pi / 2
        k = cv2.getGaborKernel((size, size), sigma, theta, period_px, 1.0, 0, ktype=cv2.CV_32F)
        k -= k.mean()
        k /= np.abs(k).sum()
        kernels.append(k)
    return tuple(kernels)


def _orientation_field(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Ridge direction (radians, mod pi) from a loop-type core/delta zero-pole model (Sherlock & Monro)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    core = (w * rng.uniform(0.42, 0.58), h * rng.uniform(0.35, 0.48))
    side = rng.choice((-1.0, 1.0))
    delta = (core[0] + side * w * rng.uniform(0.22, 0.38), core[1] + h * rng.uniform(0.30, 0.42))
    a_core = np.arctan2(ys - core[1], xs - core[0])
    a_delta = np.arctan2(ys - delta[1], xs - delta[0])
    theta = 0.5 * (a_core - a_delta) + rng.uniform(-0.15, 0.15)
    return np.mod(theta, np.pi)


@lru_cache(maxsize=8)
def _bank_spectra(h: int, w: int) -> np.ndarray:
    """The Gabor bank's FFTs at one image size (cached: the emulator asks for the same size every time)."""
    spectra = []
    for k in _gabor_bank(_RIDGE_PERIOD_PX, _ORIENTATION_BINS):
        s = k.shape[0]
        pad = np.zeros((h, w), np.float32)
        pad[:s, :s] = k
        spectra.append(np.fft.rfft2(np.roll(pad, (-(s // 2), -(s // 2)), (0, 1))))
    return np.stack(spectra)


def _grow_ridges(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise -> ridges in [-1, 1] (positive = ridge) by orientation-steered Gabor filtering.

    The filtering is circular convolution by FFT: one forward transform per round instead of a dozen spatial
    filters, which is what keeps this under ~30 ms. Wrap-around at the borders is harmless for noise.
    """
    h, w = theta.shape
    spectra = _bank_spectra(h, w)
    pos = theta / np.pi * _ORIENTATION_BINS
    lower = np.floor(pos).astype(np.intp) % _ORIENTATION_BINS
    upper = (lower + 1) % _ORIENTATION_BINS
    frac = (pos - np.floor(pos)).astype(np.float32)
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    img = rng.standard_normal((h, w)).astype(np.float32)
    for _ in range(_ROUNDS):
        stack = np.fft.irfft2(np.fft.rfft2(img)[None] * spectra, s=(h, w))
        out = (1.0 - frac) * stack[lower, rows, cols] + frac * stack[upper, rows, cols]
        out /= float(out.std()) + 1e-6
        img = np.tanh(2.0 * out).astype(np.float32)
    return img


def _pad_mask(w: int, h: int, quality: str, rng: np.random.Generator) -> np.ndarray:
    """Soft finger-shaped (elliptical) contact area in [0, 1]."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if quality == "partial":
        # Only the tip or a side of the pad touches: a small ellipse cut off by one image edge.
        edge = rng.integers(4)
        ax, ay = w * rng.uniform(0.30, 0.40), h * rng.uniform(0.28, 0.36)
        cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)
        if edge == 0:
            cy = -ay * rng.uniform(0.05, 0.35)
        elif edge == 1:
            cy = h + ay * rng.uniform(0.05, 0.35)
        elif edge == 2:
            cx = -ax * rng.uniform(0.05, 0.35)
        else:
            cx = w + ax * rng.uniform(0.05, 0.35)
    else:
        ax, ay = w * rng.uniform(0.38, 0.44), h * rng.uniform(0.44, 0.50)
        cx, cy = w * rng.uniform(0.47, 0.53), h * rng.uniform(0.52, 0.58)
    r = np.sqrt(((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2)
    # Full contact inside, pressure fading over the last ~12% of the radius.
    return np.clip((1.0 - r) / 0.12, 0.0, 1.0)


def _smudge(ridges: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Wash the ridges out: heavy blur, low contrast, and a few dark blotches of wet/greasy skin."""
    h, w = ridges.shape
    blurred = cv2.GaussianBlur(ridges, (0, 0), sigmaX=_RIDGE_PERIOD_PX * 0.27)
    blurred *= 0.35
    blot = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 6))):
        centre = (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.8) * h))
        axes = (int(rng.uniform(0.10, 0.25) * w), int(rng.uniform(0.08, 0.20) * h))
        cv2.ellipse(blot, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.5, 1.0)), -1)
    blot = cv2.GaussianBlur(blot, (0, 0), sigmaX=w * 0.04)
    return blurred, blot * mask


def synthetic_fingerprint(width: int, height: int, quality: str = "good", seed: int = 0) -> np.ndarray:
    """A grey fingerprint image (uint8, shape (height, width)): dark ridges on a light background.

    Deterministic for a given (width, height, quality, seed).
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, not {quality!r}")
    if width < 32 or height < 32:
        raise ValueError(f"image too small: {width}x{height} (need at least 32x32)")
    rng = np.random.default_rng([seed, width, height, QUALITIES.index(quality)])
    theta = _orientation_field(width, height, rng)
    ridges = _grow_ridges(theta, rng)
    mask = _pad_mask(width, height, quality, rng)
    blot = np.zeros_like(mask)
    depth = 95.0  # half the ridge/valley swing in grey levels
    if quality == "smudged":
        ridges, blot = _smudge(ridges, mask, rng)
    # Pressure varies gently across the pad.
    pressure = 0.8 + 0.2 * cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 12)
    finger = 135.0 - depth * ridges * np.clip(pressure, 0.5, 1.1) - 70.0 * blot
    background = 235.0
    img = background * (1.0 - mask) + finger * mask
    img += rng.normal(0.0, 4.0, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
