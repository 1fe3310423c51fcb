"""The ten fingers, by ISO/IEC 19794-2 finger position code, and the order the station captures them in.

Packet parts are named ``fingers/<code>.jxl.age`` with the two-digit code (``fingers/02.jxl.age`` is the right
index finger; JPEG XL, lossless: ``station.finger_image``); the manifest repeats the name. Index fingers come
first because they are what most verification uses; then thumbs, middle, ring and little fingers, alternating hands.
"""

from __future__ import annotations

import enum


class Finger(enum.IntEnum):
    RIGHT_THUMB = 1
    RIGHT_INDEX = 2
    RIGHT_MIDDLE = 3
    RIGHT_RING = 4
    RIGHT_LITTLE = 5
    LEFT_THUMB = 6
    LEFT_INDEX = 7
    LEFT_MIDDLE = 8
    LEFT_RING = 9
    LEFT_LITTLE = 10

    @property
    def code(self) -> str:
        return f"{self.value:02d}"

    @property
    def part_name(self) -> str:
        return f"fingers/{self.code}.jxl"

    @property
    def hand(self) -> str:
        return "right" if self.value <= 5 else "left"

    @property
    def label_id(self) -> str:
        """Bahasa Indonesia name, as shown to residents."""
        hand = "kanan" if self.hand == "right" else "kiri"
        names = {1: "Ibu jari", 2: "Telunjuk", 3: "Jari tengah", 4: "Jari manis", 5: "Kelingking"}
        return f"{names[(self.value - 1) % 5 + 1]} {hand}"

    @property
    def label_en(self) -> str:
        names = {1: "thumb", 2: "index finger", 3: "middle finger", 4: "ring finger", 5: "little finger"}
        return f"{self.hand.capitalize()} {names[(self.value - 1) % 5 + 1]}"


CAPTURE_ORDER: tuple[Finger, ...] = (
    Finger.RIGHT_INDEX, Finger.LEFT_INDEX,
    Finger.RIGHT_THUMB, Finger.LEFT_THUMB,
    Finger.RIGHT_MIDDLE, Finger.LEFT_MIDDLE,
    Finger.RIGHT_RING, Finger.LEFT_RING,
    Finger.RIGHT_LITTLE, Finger.LEFT_LITTLE,
)
