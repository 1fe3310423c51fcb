"""The portrait as the packet stores it: at most ICAO size (480x640, 3:4), JPEG at the best quality that fits.

A fixed JPEG quality gives sizes that swing with the scene (a busy background costs twice a plain wall); the
record's budget on a village link is fixed, so the encoder searches the quality (binary search, 6-8 encodes of a
480x640 image, a few ms each) for the largest file not above ``target_bytes``, never below ``MIN_QUALITY``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ICAO_SIZE_PX = (480, 640)
"""Width, height of the stored portrait (ICAO 9303's 3:4 at a resolution Dukcapil's systems take)."""
TARGET_BYTES = 40 * 1024
MIN_QUALITY, MAX_QUALITY = 60, 95


@dataclass(frozen=True)
class EncodedPortrait:
    jpeg: bytes
    quality: int
    width_px: int
    height_px: int


def encode_portrait(portrait: np.ndarray, *, target_bytes: int = TARGET_BYTES) -> EncodedPortrait:
    """The JPEG of ``portrait``, scaled down to ``ICAO_SIZE_PX`` when larger (never up: that
    would add bytes, not detail)."""
    height, width = portrait.shape[:2]
    scale = min(ICAO_SIZE_PX[0] / width, ICAO_SIZE_PX[1] / height)
    image = portrait if scale >= 1 else cv2.resize(portrait, (round(width * scale), round(height * scale)),
                                                   interpolation=cv2.INTER_AREA)
    low, high = MIN_QUALITY, MAX_QUALITY
    best = _jpeg(image, low)
    best_quality = low
    while low <= high:
        mid = (low + high) // 2
        data = _jpeg(image, mid)
        if len(data) <= target_bytes:
            best, best_quality, low = data, mid, mid + 1
        else:
            high = mid - 1
    return EncodedPortrait(best, best_quality, image.shape[1], image.shape[0])


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise ValueError("could not encode the portrait")
    return buf.tobytes()
