"""Fingerprint image quality, 0-100, from the image the sensor sends.

The R30x sensors give no quality figure of their own (only "Img2Tz failed" when an image is hopeless), so the
station scores the 4-bit image itself: how much of the window the finger covers, how clear the ridges are
(orientation coherence of the structure tensor), and how strong the ridge/valley contrast is. The three are
multiplied, so any one of them can sink the score: a crisp fingertip at the edge of the window is as useless for
matching as a fully pressed but smudged finger. Formula and thresholds: docs/capture-quality.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

BLOCK_PX = 16  # ~2 ridge periods at 500 dpi

#: reason -> (Bahasa Indonesia, English) hint for the resident / operator
REASONS: dict[str, tuple[str, str]] = {
    "small_area": ("Letakkan jari lebih rata, tutupi seluruh sensor", "Place the finger flat, covering the sensor"),
    "low_contrast": ("Bersihkan dan keringkan jari, lalu tekan lebih mantap",
                     "Clean and dry the finger, then press a little firmer"),
    "unclear_ridges": ("Guratan jari tidak jelas, jangan digeser", "Ridges unclear, do not slide the finger"),
    "sensor_rejected": ("Sensor menolak gambar, coba lagi", "The sensor rejected the image, try again"),
}


@dataclass(frozen=True)
class FingerprintQuality:
    score: int  # 0-100
    foreground_fraction: float  # share of the window the finger touches
    coherence: float  # 0 (no ridge direction) - 1 (perfectly parallel ridges), over the foreground
    contrast: float  # median band-pass grey-level std per foreground block
    reasons: list[str] = field(default_factory=list)

    def hints(self, lang: str = "id") -> list[str]:
        return [REASONS[r][1 if lang == "en" else 0] for r in self.reasons if r in REASONS]

    def as_dict(self) -> dict:
        return {"score": self.score, "foreground_fraction": round(self.foreground_fraction, 4),
                "coherence": round(self.coherence, 4), "contrast": round(self.contrast, 2),
                "reasons": list(self.reasons)}


# Term limits: below the low end a term is 0, above the high end it is 1 (see docs/capture-quality.md).
AREA_FULL = 0.60  # foreground fraction that counts as a fully placed finger; area term = min(1, fg / this) ** 2
CONTRAST_RANGE = (4.0, 30.0)
COHERENCE_RANGE = (0.25, 0.70)
RIDGE_STD_MIN = 12.0  # band-pass std of a block that shows ridges
CONTACT_MEAN_MAX = 190.0  # a block this dark is skin on the glass even without visible ridges
SENSOR_REJECTED_CAP = 10
TERM_REASON_BELOW = 0.6  # a term under this adds its reason


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def block_features(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block (foreground mask, coherence, band-pass std) on a BLOCK_PX grid."""
    h, w = image.shape
    hb, wb = h // BLOCK_PX, w // BLOCK_PX
    img = image[:hb * BLOCK_PX, :wb * BLOCK_PX].astype(np.float32)
    # Difference of Gaussians keeps the ridge frequency, drops pixel noise and blotches of pressure/grease.
    band = cv2.GaussianBlur(img, (0, 0), 1.0) - cv2.GaussianBlur(img, (0, 0), 4.0)

    def blocks(a: np.ndarray) -> np.ndarray:
        return a.reshape(hb, BLOCK_PX, wb, BLOCK_PX)

    mean = blocks(img).mean(axis=(1, 3))
    ridge_std = blocks(band).std(axis=(1, 3))
    gx = cv2.Sobel(band, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(band, cv2.CV_32F, 0, 1, ksize=3)
    gxx = blocks(gx * gx).sum(axis=(1, 3))
    gyy = blocks(gy * gy).sum(axis=(1, 3))
    gxy = blocks(gx * gy).sum(axis=(1, 3))
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy ** 2) / (gxx + gyy + 1e-6)
    foreground = (ridge_std >= RIDGE_STD_MIN) | (mean <= CONTACT_MEAN_MAX)
    return foreground, coherence, ridge_std


def fingerprint_score(image: np.ndarray, *, sensor_ok: bool | None = None) -> FingerprintQuality:
    """Score a grey fingerprint image (uint8 HxW, dark ridges on light). ``sensor_ok=False`` (Img2Tz failed) caps
    the score at SENSOR_REJECTED_CAP: the sensor's own feature extractor could not use the image."""
    if image.ndim != 2 or min(image.shape) < 2 * BLOCK_PX:
        raise ValueError(f"expected a grey image of at least {2 * BLOCK_PX}x{2 * BLOCK_PX}, got shape {image.shape}")
    foreground, coherence_map, ridge_std = block_features(image)
    fg_frac = float(foreground.mean())
    if foreground.any():
        coherence = float(coherence_map[foreground].mean())
        contrast = float(np.median(ridge_std[foreground]))
    else:
        coherence = contrast = 0.0
    area_term = min(1.0, fg_frac / AREA_FULL) ** 2
    contrast_term = _ramp(contrast, *CONTRAST_RANGE)
    coherence_term = _ramp(coherence, *COHERENCE_RANGE)
    score = int(round(100 * area_term * contrast_term * coherence_term))
    reasons = [name for name, term in (("small_area", area_term), ("low_contrast", contrast_term),
                                       ("unclear_ridges", coherence_term)) if term < TERM_REASON_BELOW]
    if sensor_ok is False:
        score = min(score, SENSOR_REJECTED_CAP)
        reasons.append("sensor_rejected")
    return FingerprintQuality(score, fg_frac, coherence, contrast, reasons)
