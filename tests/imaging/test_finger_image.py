"""Fingerprints are stored as lossless JPEG XL: the sensor's pixels come back exactly, smaller than the PNG
written before, and packets with PNG fingers still read."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device_drivers.fingerprint.synthetic import synthetic_fingerprint
from station import packets
from station.capture.photo_encoding import ICAO_SIZE_PX, encode_portrait
from station.finger_image import decode_finger, encode_finger
from station.fingers import Finger


def sensor_image(seed: int) -> np.ndarray:
    return (synthetic_fingerprint(256, 288, "good", seed=seed) // 17 * 17).astype(np.uint8)


def test_jpeg_xl_is_lossless_and_smaller_than_png() -> None:
    for seed in (1, 2):
        image = sensor_image(seed)
        data = encode_finger(image)
        assert data[:2] == b"\xff\x0a"                                        # a JPEG XL codestream
        assert np.array_equal(decode_finger(data), image)
        assert len(data) < 0.75 * len(cv2.imencode(".png", image)[1])


def test_older_png_fingers_still_decode_and_are_valid_part_names() -> None:
    image = sensor_image(3)
    assert np.array_equal(decode_finger(cv2.imencode(".png", image)[1].tobytes()), image)
    assert Finger.RIGHT_INDEX.part_name == "fingers/02.jxl"
    assert {"fingers/02.jxl.age", "fingers/02.png.age"} <= packets.PART_NAMES
    from datetime import UTC, datetime

    from station import keys

    key = keys.generate_signing_key()
    parts = {"manifest.json.age": b"m", "fingers/02.jxl.age": b"a", "fingers/02.png.age": b"b"}
    data = packets.build_packet(packet_id=packets.new_packet_id(), station_id="kph-01", created=datetime.now(UTC),
                                sealed_parts=parts, signing_key=key)
    with pytest.raises(packets.PacketError, match="listed twice"):
        packets.verify_packet(data, key.public_key())


def test_the_portrait_fits_its_target_at_icao_size() -> None:
    portrait = cv2.imread(str(__import__("pathlib").Path(__file__).resolve().parents[2] / "device_drivers" /
                              "assets" / "portrait.jpg"))
    big = cv2.resize(portrait, (960, 1280))
    encoded = encode_portrait(big, target_bytes=40 * 1024)
    assert (encoded.width_px, encoded.height_px) == ICAO_SIZE_PX and len(encoded.jpeg) <= 40 * 1024
    assert 60 <= encoded.quality <= 95
    small = encode_portrait(cv2.resize(portrait, (300, 400)))
    assert (small.width_px, small.height_px) == (300, 400)                 # never scaled up
