"""Signature sanity checks on pen points shaped like the Topaz pad's (x, y, pen_down), as objects or dicts."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import pytest

from station.quality.signature import MIN_ONE_STROKE_TURNS, REASONS, TURN_STEP, path_turns, signature_quality

PAD = (500, 350, 2650, 950)  # SigLite T-S460 raw signing area


@dataclass(frozen=True)
class Pen:
    """Same fields as device_drivers.signature_pad.PenPoint (which this module must not need)."""

    x: int
    y: int
    pressure: int
    pen_down: bool
    t: float


def cursive(x0: float, width: float, baseline: float, height: float, letters: int, samples: int = 120) -> list:
    """A looping handwriting-like stroke: loops moving to the right along a baseline."""
    pts = []
    for i in range(samples):
        s = i / (samples - 1)
        phase = 2 * math.pi * letters * s
        x = x0 + width * s - 0.35 * (width / letters) * math.sin(phase)
        y = baseline - height * (0.5 - 0.5 * math.cos(phase)) * (0.7 + 0.3 * math.sin(3 * s))
        pts.append((x, y))
    return pts


def to_points(strokes: list[list[tuple[float, float]]], *, as_dict: bool = False) -> list:
    out, t = [], 0.0
    for stroke in strokes:
        for k, (x, y) in enumerate(stroke):
            t += 0.005
            down = True
            point = Pen(int(x), int(y), 300, down, t)
            out.append(point.__dict__ if as_dict else point)
            if k == len(stroke) - 1:  # lift: one hover point, then out of range
                out.append({"x": int(x), "y": int(y) - 20, "pen_down": False} if as_dict
                           else Pen(int(x), int(y) - 20, 0, False, t))
                out.append({"x": 0x0FFF, "y": 0x0FFF, "pen_down": False} if as_dict
                           else Pen(0x0FFF, 0x0FFF, 0, False, t))
    return out


def good_signature() -> list[list[tuple[float, float]]]:
    return [
        cursive(640, 800, 800, 300, letters=5),
        cursive(1520, 700, 820, 250, letters=4),
        [(700 + 14 * i, 880 + 15 * math.sin(i / 8)) for i in range(100)],  # underline flourish
    ]


@pytest.mark.parametrize("as_dict", [False, True])
def test_good_signature_passes(as_dict: bool) -> None:
    q = signature_quality(to_points(good_signature(), as_dict=as_dict), pad=PAD)
    assert q.passed, q
    assert q.strokes == 3 and q.reason_key == "" and q.reason_id == ""
    assert q.ink_length > 2.0 and 0.5 < q.bbox_w <= 1.0 and 0.3 < q.bbox_h <= 1.0


def test_default_pad_is_the_siglite_area() -> None:
    assert signature_quality(to_points(good_signature())).passed


def test_empty_pad_and_hover_only() -> None:
    for points in ([], [Pen(1000, 600, 0, False, 0.0), Pen(1010, 600, 0, False, 0.01)]):
        q = signature_quality(points, pad=PAD)
        assert not q.passed and q.reason_key == "empty" and q.strokes == 0
        assert q.reason_id == REASONS["empty"][0] and q.reason_en == "The pad is empty, please sign"


def test_a_dot_is_too_small() -> None:
    dot = [[(1500, 600), (1502, 601), (1503, 603), (1503, 603)]]
    q = signature_quality(to_points(dot), pad=PAD)
    assert not q.passed and q.reason_key == "too_small"
    assert q.reason_id == "Tanda tangan terlalu kecil"


def test_a_straight_line_is_rejected() -> None:
    for line in ([(600 + 20 * i, 650) for i in range(100)],  # across the pad
                 [(700 + 15 * i, 500 + 3 * i) for i in range(100)]):  # slanted
        q = signature_quality(to_points([line]), pad=PAD)
        assert not q.passed and q.reason_key == "line", q
        assert q.reason_en == "Only a straight line, please sign in full"


def test_a_tiny_scribble_is_too_small() -> None:
    tiny = [[(1500 + x * 0.12, 600 + (y - 800) * 0.12) for x, y in cursive(0, 800, 800, 300, letters=5)]]
    q = signature_quality(to_points(tiny), pad=PAD)
    assert not q.passed and q.reason_key == "too_small"


def test_short_tick_is_too_short() -> None:
    tick = [[(1000, 700), (1100, 800), (1400, 500)]]
    q = signature_quality(to_points(tick), pad=PAD)
    assert not q.passed and q.reason_key in {"too_short", "line"}


def test_wide_flat_cursive_is_not_mistaken_for_a_line() -> None:
    flat = [cursive(600, 1800, 700, 70, letters=14, samples=400)]
    q = signature_quality(to_points(flat), pad=PAD)
    assert q.passed, q


def test_pad_bounds_object_and_normalised_points() -> None:
    @dataclass
    class Bounds:
        x_min: int = 500
        x_max: int = 2650
        y_min: int = 350
        y_max: int = 950

    assert signature_quality(to_points(good_signature()), pad=Bounds()).passed
    normalised = [{"x": (p.x - 500) / 2150, "y": (p.y - 350) / 600, "pen_down": p.pen_down}
                  for p in to_points(good_signature()) if p.x != 0x0FFF]
    q = signature_quality(normalised, pad=(0, 0, 1, 1))
    assert q.passed and q.as_dict()["reason"] is None


def test_signatures_from_the_pad_emulator_pass() -> None:
    """The pad emulator's cursive signatures (engineer E) are what the kiosk sees in --simulate: they must pass."""
    from device_drivers.signature_pad.emulator import generate_signature

    for name in ("Siti Aminah", "Budi", "Yohanes Dwi Santoso"):
        for seed in range(4):
            strokes = generate_signature(name, seed)
            q = signature_quality(to_points(strokes), pad=PAD)
            assert q.passed, (name, seed, q)


# --- one-stroke rule: a lone plain shape is not a signature, one-stroke cursive is -------------------------------
def circle(cx: float, cy: float, r: float, turns: float = 1.0, samples: int = 200) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(2 * math.pi * turns * i / (samples - 1)),
             cy + r * math.sin(2 * math.pi * turns * i / (samples - 1))) for i in range(samples)]


def jittered(stroke: list[tuple[float, float]], amplitude: float, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(x + rng.uniform(-amplitude, amplitude), y + rng.uniform(-amplitude, amplitude)) for x, y in stroke]


@pytest.mark.parametrize("shape", ["circle", "circle_and_a_half", "jittered_circle", "zigzag"])
def test_a_single_plain_stroke_is_not_a_signature(shape: str) -> None:
    """Each passes the size, line and ink-length rules; only the stroke-count rule catches it."""
    stroke = {
        "circle": circle(1500, 650, 250),
        "circle_and_a_half": circle(1500, 650, 250, turns=1.5, samples=300),
        "jittered_circle": jittered(circle(1500, 650, 250, samples=400), 6, seed=1),
        "zigzag": [(1000, 500), (1300, 900), (1600, 500), (1900, 900)],
    }[shape]
    q = signature_quality(to_points([stroke]), pad=PAD)
    assert q.bbox_w >= 0.15 and q.bbox_h >= 0.08 and q.ink_length >= 0.6  # big and inky enough otherwise
    assert q.strokes == 1 and q.turns < MIN_ONE_STROKE_TURNS
    assert not q.passed and q.reason_key == "too_short", q
    assert q.reason_en == "Signature too short, please sign in full"


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_one_stroke_cursive_signatures_pass(seed: int | None) -> None:
    for letters, width, height in ((3, 500, 200), (5, 800, 300)):  # a short name written small, and a longer one
        stroke = cursive(1000, width, 800, height, letters=letters, samples=300)
        if seed is not None:
            stroke = jittered(stroke, 6, seed)  # pen jitter must neither help nor hurt
        q = signature_quality(to_points([stroke]), pad=PAD)
        assert q.passed, (letters, seed, q)
        assert q.strokes == 1 and q.turns >= MIN_ONE_STROKE_TURNS
        assert q.as_dict()["turns"] == round(q.turns, 2)


def test_path_turns_counts_full_turns_and_ignores_jitter_and_density() -> None:
    step = TURN_STEP * 2150
    assert path_turns(np.array(circle(1500, 650, 250, samples=60)), step) == pytest.approx(1.0, abs=0.12)
    assert path_turns(np.array(circle(1500, 650, 250, samples=600)), step) == pytest.approx(1.0, abs=0.12)
    assert path_turns(np.array(circle(1500, 650, 200, turns=3, samples=900)), step) == pytest.approx(3.0, abs=0.3)
    line = np.array([(600 + 4 * i, 650) for i in range(400)], dtype=float)
    assert path_turns(line, step) == pytest.approx(0.0, abs=1e-9)
    assert path_turns(np.array(jittered([tuple(p) for p in line], 5, seed=3)), step) < 0.4
    assert path_turns(np.array([(1.0, 1.0), (2.0, 2.0)]), step) == 0.0
