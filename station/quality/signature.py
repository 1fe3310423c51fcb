"""Is what is on the signature pad a signature?

Not a verification of who signed, only a guard against the captures that are certainly wrong: an empty pad, an
accidental tap (a dot), a single stroke across the pad, or a scribble too small to see on the card. Points are
duck-typed (anything with ``x``, ``y``, ``pen_down``, or dicts with those keys) so station code does not depend on
the pad driver's classes. Thresholds: docs/capture-quality.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: raw coordinate rectangle of the signing area (x_min, y_min, x_max, y_max); Topaz SigLite T-S460 by default
DEFAULT_PAD = (500.0, 350.0, 2650.0, 950.0)
OUT_OF_RANGE = 0x0FFF  # Topaz "pen out of range" coordinates

MIN_INK_LENGTH = 0.6  # pen-down path length, in pad widths
MIN_BBOX_W = 0.15  # of the pad width
MIN_BBOX_H = 0.08  # of the pad height
MAX_STRAIGHTNESS = 1.25  # ink length / bounding-box diagonal below this is a single straight-ish line
MIN_THICKNESS = 0.04  # minor / major spread of the ink (PCA): below this it is a line
# A signature written in ONE pen-down stroke must be handwriting, not a lone circle, arc, tick or zigzag: its path
# has to turn through at least this many full turns (cursive loops each add about one). Multi-stroke signatures
# (initials, name + flourish) are judged by the other rules only.
MIN_ONE_STROKE_TURNS = 1.75
TURN_STEP = 0.02  # the stroke is resampled every 2 % of the pad width before measuring turning, so jitter adds none

#: reason key -> (Bahasa Indonesia, English)
REASONS: dict[str, tuple[str, str]] = {
    "empty": ("Belum ada tanda tangan, silakan tanda tangan di pad", "The pad is empty, please sign"),
    "too_small": ("Tanda tangan terlalu kecil", "Signature too small"),
    "too_short": ("Tanda tangan terlalu pendek, tulis lengkap", "Signature too short, please sign in full"),
    "line": ("Tanda tangan hanya garis lurus, tulis tanda tangan lengkap",
             "Only a straight line, please sign in full"),
}


@dataclass(frozen=True)
class SignatureQuality:
    passed: bool
    ink_length: float  # pen-down path length, in pad widths
    bbox_w: float  # ink bounding box, fraction of pad width
    bbox_h: float  # fraction of pad height
    strokes: int
    reason_id: str = ""
    reason_en: str = ""
    reason_key: str = ""
    turns: float = 0.0  # total absolute turning of the pen path, in full turns (summed over strokes)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "ink_length": round(self.ink_length, 4), "bbox_w": round(self.bbox_w, 4),
                "bbox_h": round(self.bbox_h, 4), "strokes": self.strokes, "turns": round(self.turns, 2),
                "reason": self.reason_key or None}


def _field(point: Any, name: str) -> Any:
    return point[name] if isinstance(point, Mapping) else getattr(point, name)


def _pad_rect(pad: Any) -> tuple[float, float, float, float]:
    if pad is None:
        return DEFAULT_PAD
    if isinstance(pad, tuple | list):
        x0, y0, x1, y1 = (float(v) for v in pad)
        return x0, y0, x1, y1
    return float(pad.x_min), float(pad.y_min), float(pad.x_max), float(pad.y_max)


def pen_strokes(points: Iterable[Any]) -> list[np.ndarray]:
    """Pen-down runs as (n, 2) arrays; pen-up and out-of-range points separate strokes."""
    strokes: list[np.ndarray] = []
    current: list[tuple[float, float]] = []
    for p in points:
        x, y, down = float(_field(p, "x")), float(_field(p, "y")), bool(_field(p, "pen_down"))
        if down and not (x == OUT_OF_RANGE and y == OUT_OF_RANGE):
            current.append((x, y))
        elif current:
            strokes.append(np.array(current))
            current = []
    if current:
        strokes.append(np.array(current))
    return strokes


def signature_quality(points: Iterable[Any], *, pad: Any = None) -> SignatureQuality:
    """Check a captured signature. ``pad`` is the signing area: (x_min, y_min, x_max, y_max) or an object with
    those attributes (the pad driver's ``PadBounds``); pass ``(0, 0, 1, 1)`` for normalised points."""
    x0, y0, x1, y1 = _pad_rect(pad)
    pad_w, pad_h = x1 - x0, y1 - y0
    strokes = pen_strokes(points)
    if not strokes:
        return _verdict("empty", 0.0, 0.0, 0.0, 0)
    ink = np.concatenate(strokes)
    length_px = sum(float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in strokes)
    span = ink.max(axis=0) - ink.min(axis=0)
    ink_length = length_px / pad_w
    bbox_w, bbox_h = float(span[0]) / pad_w, float(span[1]) / pad_h
    turns = sum(path_turns(stroke, TURN_STEP * pad_w) for stroke in strokes)
    counts = (ink_length, bbox_w, bbox_h, len(strokes), turns)
    if bbox_w < MIN_BBOX_W and bbox_h < 2 * MIN_BBOX_H:
        return _verdict("too_small", *counts)
    if _is_line(ink, length_px, float(math.hypot(*span))):
        return _verdict("line", *counts)
    if bbox_w < MIN_BBOX_W or bbox_h < MIN_BBOX_H:
        return _verdict("too_small", *counts)
    if ink_length < MIN_INK_LENGTH:
        return _verdict("too_short", *counts)
    if len(strokes) == 1 and turns < MIN_ONE_STROKE_TURNS:
        return _verdict("too_short", *counts)  # one plain shape; same advice: "please sign in full"
    return _verdict("", *counts)


def path_turns(stroke: np.ndarray, step_px: float) -> float:
    """Total absolute turning of a pen path, in full turns (a circle is 1, a straight line 0), measured on the
    path resampled every ``step_px`` so sensor jitter and point density do not count."""
    if len(stroke) < 3 or step_px <= 0:
        return 0.0
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] < 2 * step_px:
        return 0.0
    # Resample finely, average over two steps (pen jitter is a few raw units per point), then keep every step.
    fine = step_px / 4
    at = np.arange(0.0, arc[-1], fine)
    path = np.column_stack([np.interp(at, arc, stroke[:, 0]), np.interp(at, arc, stroke[:, 1])])
    if len(path) > 9:
        kernel = np.ones(9) / 9
        path = np.column_stack([np.convolve(path[:, i], kernel, mode="valid") for i in (0, 1)])
    path = path[::4]
    if len(path) < 3:
        return 0.0
    d = np.diff(path, axis=0)
    heading = np.arctan2(d[:, 1], d[:, 0])
    turn = (np.diff(heading) + math.pi) % (2 * math.pi) - math.pi
    return float(np.abs(turn).sum() / (2 * math.pi))


def _is_line(ink: np.ndarray, length_px: float, diagonal_px: float) -> bool:
    """Nearly all ink along one direction, or a path barely longer than its own extent."""
    if len(ink) < 3 or diagonal_px == 0:
        return False
    eigen = np.linalg.eigvalsh(np.cov(ink.T))  # ascending
    thickness = math.sqrt(max(eigen[0], 0.0) / eigen[1]) if eigen[1] > 0 else 0.0
    return length_px < MAX_STRAIGHTNESS * diagonal_px or (thickness < MIN_THICKNESS and length_px < 2 * diagonal_px)


def _verdict(key: str, ink_length: float, bbox_w: float, bbox_h: float, strokes: int,
             turns: float = 0.0) -> SignatureQuality:
    reason_id, reason_en = REASONS.get(key, ("", ""))
    return SignatureQuality(not key, ink_length, bbox_w, bbox_h, strokes, reason_id, reason_en, key, turns)
