"""Fingerprint images as the packet stores them: JPEG XL, lossless, 8-bit greyscale.

The sensor's pixels are kept exactly (an AFIS export can later transcode them to WSQ or JPEG 2000 without a loss
from here), at about 12 KB per 256x288 finger against 21 KB for the PNG written before: ten fingers fit a village
link's record budget (docs/capture-quality.md, "Bytes per record"; figures from bench/capture_encodings.py).
JPEG XL (ISO/IEC 18181) comes from ``pillow-jxl-plugin`` (Rust bindings to libjxl, wheels for aarch64 and x86-64).
Packets written before carry ``fingers/NN.png`` parts; ``decode_finger`` reads both.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

FINGER_SUFFIX = ".jxl"
JXL_EFFORT = 7
"""libjxl effort 1-9: 7 is ~12 KB per finger in ~50 ms here (9 saves 1 KB for five times the time)."""
JXL_SIGNATURES = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")
"""A bare JPEG XL codestream, or the ISO BMFF container."""


def encode_finger(image: np.ndarray) -> bytes:
    """Lossless JPEG XL of a greyscale sensor image (2-D uint8)."""
    import pillow_jxl  # noqa: F401 - registers the JXL format with Pillow
    from PIL import Image

    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("a fingerprint image is a 2-D uint8 array")
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JXL", lossless=True, effort=JXL_EFFORT)
    return out.getvalue()


def decode_finger(data: bytes) -> np.ndarray:
    """The 8-bit image back, from JPEG XL or (older packets) PNG."""
    if data.startswith(JXL_SIGNATURES):
        import pillow_jxl  # noqa: F401
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("not a decodable fingerprint image")
    return image
