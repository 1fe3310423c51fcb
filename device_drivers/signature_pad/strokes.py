"""Strokes: pen-down runs of points, and their mapping onto the pad's calibrated (inkable) area.

A pad reports raw coordinates in 0..4095, but only part of that range is under the glass. The SigLite T-S460
family is commonly calibrated to about X 500..2650 and Y 350..950; we could not confirm this from a public Topaz
document, so it is the default of ``PadBounds`` and can be changed per station (docs/hardware.md says how to
measure a pad). Y grows downwards, as on screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from device_drivers.signature_pad.protocol import PenPoint


@dataclass(frozen=True)
class PadBounds:
    """The raw coordinate rectangle that maps to the whole signing area."""

    x_min: int = 500
    x_max: int = 2650
    y_min: int = 350
    y_max: int = 950

    def __post_init__(self) -> None:
        if self.x_max <= self.x_min or self.y_max <= self.y_min:
            raise ValueError(f"empty pad bounds {self}")

    @property
    def aspect(self) -> float:
        """Width / height of the inkable area (about 3.6 on a T-S460)."""
        return (self.x_max - self.x_min) / (self.y_max - self.y_min)


SIGLITE_T_S460 = PadBounds()


@dataclass(frozen=True)
class NormPoint:
    """A point in the calibrated area: x, y in 0..1 (clamped), t in seconds from the first point."""

    x: float
    y: float
    t: float


def assemble_strokes(points: Iterable[PenPoint], *, max_gap_s: float = 0.25) -> list[list[PenPoint]]:
    """Group pen-down points into strokes; a pen-up point or a pause longer than ``max_gap_s`` ends a stroke.

    The gap rule matters because a pad that loses the pen (out of range) sends only discarded 0x0FFF packets,
    so there may be no explicit pen-up between two strokes.
    """
    strokes: list[list[PenPoint]] = []
    current: list[PenPoint] = []
    for p in points:
        if not p.pen_down:
            if current:
                strokes.append(current)
                current = []
            continue
        if current and p.t - current[-1].t > max_gap_s:
            strokes.append(current)
            current = []
        current.append(p)
    if current:
        strokes.append(current)
    return strokes


def normalise_point(p: PenPoint, bounds: PadBounds, t0: float = 0.0) -> NormPoint:
    x = (p.x - bounds.x_min) / (bounds.x_max - bounds.x_min)
    y = (p.y - bounds.y_min) / (bounds.y_max - bounds.y_min)
    return NormPoint(min(1.0, max(0.0, x)), min(1.0, max(0.0, y)), p.t - t0)


def normalise_strokes(strokes: Sequence[Sequence[PenPoint]], bounds: PadBounds = SIGLITE_T_S460
                      ) -> list[list[NormPoint]]:
    """Map strokes onto the calibrated area; times become relative to the first point."""
    t0 = strokes[0][0].t if strokes and strokes[0] else 0.0
    return [[normalise_point(p, bounds, t0) for p in stroke] for stroke in strokes]


def to_pixels(strokes: Sequence[Sequence[NormPoint]], width_px: int, height_px: int) -> list[list[tuple[int, int]]]:
    """Normalised strokes -> integer pixel coordinates on a ``width_px`` x ``height_px`` canvas."""
    return [[(round(p.x * (width_px - 1)), round(p.y * (height_px - 1))) for p in stroke] for stroke in strokes]


def points_to_dicts(points: Iterable[PenPoint]) -> list[dict]:
    """Pen points as plain dicts (what the enrollment workflow stores in signature.json)."""
    return [p.as_dict() for p in points]


def ink_length(strokes: Sequence[Sequence[NormPoint]], aspect: float = SIGLITE_T_S460.aspect) -> float:
    """Total pen-down path length, in units of the signing area's height (aspect-corrected)."""
    total = 0.0
    for stroke in strokes:
        for a, b in zip(stroke, stroke[1:], strict=False):
            total += (((b.x - a.x) * aspect) ** 2 + (b.y - a.y) ** 2) ** 0.5
    return total
