"""Benchmark: the live photo checks on 640x480 preview frames, and what they cost the MJPEG preview.

The kiosk runs ``PhotoChecker.check`` on every preview frame to show hints and auto-capture, so the checks have
to fit beside JPEG-encoding the frame for the MJPEG stream. In one run this measures

* per-frame time of the checks (median, p95, max) on every synthetic scene (the kiosk sees all of them: a resident
  too close, tilted or over-lit is checked on every frame too), each against the goal;
* the preview loop without checks (synthetic camera read + JPEG encode at quality 80) as the baseline, and the same
  loop with the checks, both unpaced, as frames per second, and their ratio.

Goal: the checks take under 15 ms per frame. The goal applies to the MEDIAN of EVERY scene (not only the good
portrait). p95 is printed against the same 15 ms as a secondary figure: on a shared 2-core box it is dominated by
scheduling noise, so a p95 over the goal is reported ("p95 over") but does not by itself miss the goal.
Prints figures; not a pass/fail test.
Usage: ``.venv/bin/python bench/photo_quality.py [--frames 150] [--threads N]``
(``--threads 1`` approximates a Pi busy with other work; default is OpenCV's own choice.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device_drivers.camera import SCENES, SyntheticCamera  # noqa: E402
from station.quality.photo import PhotoChecker  # noqa: E402

GOAL_MS = 15.0
JPEG_QUALITY = 80


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def time_checks(checker: PhotoChecker, frames: list[np.ndarray]) -> list[float]:
    times_ms = []
    for frame in frames:
        start = time.perf_counter()
        checker.check(frame)
        times_ms.append((time.perf_counter() - start) * 1000)
    return times_ms


def _frames(scene: str, seed: int, n: int) -> list[np.ndarray]:
    cam = SyntheticCamera(640, 480, scene=scene, seed=seed, pace=False)
    return [cam.read() for _ in range(n)]


def preview_fps(camera: SyntheticCamera, n: int, checker: PhotoChecker | None) -> float:
    """Frames per second of read -> (checks) -> JPEG, the work of one MJPEG preview stream."""
    start = time.perf_counter()
    for _ in range(n):
        frame = camera.read()
        if checker is not None:
            checker.check(frame)
        ok, _jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per measurement")
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's choice)")
    args = parser.parse_args()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} thread(s), {args.frames} frames of 640x480 per figure")

    checker = PhotoChecker()
    warm = SyntheticCamera(640, 480, scene="portrait", seed=1, pace=False)
    checker.check(warm.read())  # warm-up: cascades, allocations

    per_scene = max(20, args.frames // 5)
    seeds = (2, 3, 4)
    print(f"\nchecks per scene, {len(seeds)} seeds x {per_scene} frames (goal {GOAL_MS:.0f} ms applies to the median):")
    print(f"  {'scene':<11} {'median':>7} {'p95':>7} {'max':>7}  median/goal  p95/goal  verdict")
    medians: dict[str, float] = {}
    for scene in SCENES:
        frames = [f for seed in seeds for f in _frames(scene, seed, per_scene)]
        t = time_checks(checker, frames)
        median_ms, p95_ms = statistics.median(t), percentile(t, 95)
        medians[scene] = median_ms
        verdict = "met" if median_ms < GOAL_MS else "MISSED"
        if p95_ms >= GOAL_MS:
            verdict += " (p95 over)"
        print(f"  {scene:<11} {median_ms:7.2f} {p95_ms:7.2f} {max(t):7.2f}  {median_ms / GOAL_MS:11.2f}"
              f"  {p95_ms / GOAL_MS:8.2f}  {verdict}")

    baseline = preview_fps(SyntheticCamera(640, 480, seed=3, pace=False), args.frames, None)
    with_checks = preview_fps(SyntheticCamera(640, 480, seed=3, pace=False), args.frames, checker)
    print(f"\npreview (read + JPEG q{JPEG_QUALITY}) without checks: {baseline:7.1f} fps   <- baseline")
    print(f"preview (read + checks + JPEG)        with checks: {with_checks:7.1f} fps")
    print(f"ratio with/without: {with_checks / baseline:.2f}  (time per frame x{baseline / with_checks:.2f})")
    worst = max(medians, key=lambda k: medians[k])
    verdict = "met" if medians[worst] < GOAL_MS else "MISSED"
    print(f"\ngoal: checks < {GOAL_MS:.0f} ms per frame, median of every scene -> {verdict} "
          f"(worst: {worst} {medians[worst]:.2f} ms; good portrait {medians['portrait']:.2f} ms)")


if __name__ == "__main__":
    main()
