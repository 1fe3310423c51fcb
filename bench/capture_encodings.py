"""Bytes per record: fingerprint encodings measured on the sensor's images, and the photo at ICAO size.

Fingerprints come from the R30x emulator's synthetic images after the sensor's 4-bit quantisation (what the real
driver returns: 16 grey levels, ``v * 17``), 256x288 as on an R307. For each candidate: mean size per finger,
encode and decode time here (a Pi 4 is roughly 4-8x slower), whether decoding gives the sensor's pixels back
exactly, and the quality score (station.quality.fingerprint) before and after. Lossless first: PNG as written
today, PNG at zlib level 9, PNG at 4 bits per pixel (the sensor's own depth), JPEG 2000 lossless (OpenCV's
OpenJPEG), JPEG XL lossless (pillow-jxl-plugin, when installed), then WSQ at 0.75 bpp (``wsq``, NBIS, when
installed). The photo: the committed portrait cropped 3:4 to 480x640, JPEG at the quality that fits a target size.

    .venv/bin/python bench/capture_encodings.py
"""

from __future__ import annotations

import io
import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device_drivers.fingerprint.synthetic import synthetic_fingerprint  # noqa: E402
from station.finger_image import decode_finger, encode_finger  # noqa: E402
from station.quality.fingerprint import fingerprint_score  # noqa: E402

Codec = tuple[str, Callable[[np.ndarray], bytes], Callable[[bytes], np.ndarray], bool]


def encode_png4(image: np.ndarray) -> bytes:
    """PNG greyscale at 4 bits per pixel (colour type 0, bit depth 4): the sensor's own depth, filter 0."""
    nibbles = (image // 17).astype(np.uint8)
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    raw = b"".join(b"\x00" + row.tobytes() for row in packed)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", image.shape[1], image.shape[0], 4, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def sensor_images(count: int = 10) -> list[np.ndarray]:
    """What the driver returns: synthetic ridges quantised to the sensor's 4 bits (v // 17 * 17)."""
    qualities = ["good"] * 8 + ["partial", "smudged"]
    return [(synthetic_fingerprint(256, 288, qualities[i % 10], seed=100 + i) // 17 * 17).astype(np.uint8)
            for i in range(count)]


def _cv(ext: str, params: list[int] | None = None) -> Callable[[np.ndarray], bytes]:
    return lambda img: cv2.imencode(ext, img, params or [])[1].tobytes()


def _cv_decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)


def codecs() -> list[Codec]:
    found: list[Codec] = [
        ("PNG 8-bit (today, cv2 default)", _cv(".png"), _cv_decode, True),
        ("PNG 8-bit, zlib 9", _cv(".png", [cv2.IMWRITE_PNG_COMPRESSION, 9]), _cv_decode, True),
        ("PNG 4-bit grey (sensor depth)", encode_png4, decode_finger, True),
        ("JPEG 2000 lossless (OpenJPEG)", _cv(".jp2", [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, 1000]),
         _cv_decode, True),
    ]
    found.append(("JPEG XL lossless, effort 7 (chosen)", encode_finger, decode_finger, True))
    try:
        import wsq  # noqa: F401
        from PIL import Image

        def wsq_075(img: np.ndarray) -> bytes:
            out = io.BytesIO()
            Image.fromarray(img).save(out, format="WSQ", ratio=10.7)     # 8 bpp / 10.7 = 0.75 bpp
            return out.getvalue()

        found.append(("WSQ 0.75 bpp (wsq/NBIS)", wsq_075,
                      lambda d: np.asarray(Image.open(io.BytesIO(d)).convert("L")), False))
    except ImportError:
        print("(wsq not installed: WSQ skipped)")
    return found


def measure_fingers() -> None:
    images = sensor_images()
    scores = [fingerprint_score(img).score for img in images]
    print(f"{'fingerprint encoding':<42}{'KB/finger':>10}{'x10 KB':>8}{'enc ms':>8}{'dec ms':>8}"
          f"{'exact':>7}{'score diff':>11}")
    for name, encode, decode, lossless in codecs():
        try:
            t0 = time.perf_counter()
            blobs = [encode(img) for img in images]
            t1 = time.perf_counter()
            back = [decode(b) for b in blobs]
            t2 = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - a codec the build lacks is reported, not fatal
            print(f"{name:<42} failed: {exc}")
            continue
        exact = all(np.array_equal(a, b) for a, b in zip(images, back, strict=True))
        diff = max(abs(fingerprint_score(b).score - s) for b, s in zip(back, scores, strict=True))
        size = sum(len(b) for b in blobs) / len(blobs) / 1024
        print(f"{name:<42}{size:>10.1f}{size * 10:>8.0f}{(t1 - t0) / len(images) * 1000:>8.1f}"
              f"{(t2 - t1) / len(images) * 1000:>8.1f}{'yes' if exact else 'no':>7}{diff:>11}"
              f"{'' if lossless or not exact else ' (!)'}")


def measure_photo() -> None:
    from station.capture.photo_encoding import encode_portrait

    portrait = cv2.imread(str(ROOT / "device_drivers" / "assets" / "portrait.jpg"))
    h, w = portrait.shape[:2]
    side = min(w, h * 3 // 4)
    crop = portrait[:, (w - side) // 2:(w - side) // 2 + side] if w > side else portrait
    print(f"\n{'photo (480x640 portrait)':<42}{'KB':>8}{'quality':>9}{'ms':>7}")
    before = cv2.imencode(".jpg", cv2.resize(crop, (480, 640)), [cv2.IMWRITE_JPEG_QUALITY, 92])[1]
    print(f"{'JPEG q92 (today)':<42}{len(before) / 1024:>8.1f}{92:>9}")
    for target_kb in (45, 40, 35, 25):
        t0 = time.perf_counter()
        encoded = encode_portrait(cv2.resize(crop, (480, 640)), target_bytes=target_kb * 1024)
        ms = (time.perf_counter() - t0) * 1000
        print(f"{f'JPEG, target {target_kb} KB':<42}{len(encoded.jpeg) / 1024:>8.1f}{encoded.quality:>9}{ms:>7.0f}")


def measure_record() -> None:
    """A whole record as it goes on the wire: ten chosen fingers, the portrait at its target, a signature."""
    import hashlib
    import json
    from datetime import UTC, datetime

    from station import keys, packets
    from station.capture.photo_encoding import encode_portrait

    _secret, recipient = keys.generate_age_identity()
    fingers = {f"fingers/{i:02d}.jxl": encode_finger(img) for i, img in enumerate(sensor_images(), start=1)}
    portrait = cv2.imread(str(ROOT / "device_drivers" / "assets" / "portrait.jpg"))
    h, w = portrait.shape[:2]
    side = min(w, h * 3 // 4)
    photo = encode_portrait(cv2.resize(portrait[:, (w - side) // 2:(w - side) // 2 + side], (480, 640))).jpeg
    rng = np.random.default_rng(7)
    canvas = np.full((160, 640), 255, np.uint8)
    points = np.cumsum(rng.integers(-6, 7, size=(420, 2)), axis=0) + [320, 80]
    cv2.polylines(canvas, [points.astype(np.int32).reshape(-1, 1, 2)], False, 0, 2)
    signature_png = cv2.imencode(".png", canvas)[1].tobytes()
    signature_json = json.dumps([{"x": int(x), "y": int(y), "pressure": 1, "pen_down": True, "t": i / 100}
                                 for i, (x, y) in enumerate(points)]).encode()
    files = {"photo.jpg": photo, "signature.png": signature_png, "signature.json": signature_json, **fingers}
    packet_id = packets.new_packet_id()
    manifest = {"schema": packets.MANIFEST_SCHEMA, "packet_id": packet_id, "station": "kph-01",
                "files": {n: {"sha256": hashlib.sha256(b).hexdigest(), "size_bytes": len(b)} for n, b in files.items()}}
    sealed = {f"{n}.age": packets.seal_part(b, recipient) for n, b in files.items()}
    sealed["manifest.json.age"] = packets.seal_part(json.dumps(manifest).encode() + b" " * 2500, recipient)
    data = packets.build_packet(packet_id=packet_id, station_id="kph-01", created=datetime.now(UTC),
                                sealed_parts=sealed, signing_key=keys.generate_signing_key())
    print(f"\nrecord on the wire: {len(data) / 1024:.0f} KB (fingers {sum(map(len, fingers.values())) / 1024:.0f},"
          f" photo {len(photo) / 1024:.0f}, signature {(len(signature_png) + len(signature_json)) / 1024:.0f},"
          " manifest ~3 KB, age and ZIP framing the rest); goal <= 250 KB")


if __name__ == "__main__":
    measure_fingers()
    measure_photo()
    measure_record()
