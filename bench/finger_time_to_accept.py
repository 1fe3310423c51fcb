"""Time from placing a finger to an accepted finger, at the factory rate (57600) and the station's fast rate.

Runs what the capture worker does for one finger, on the paced emulator (FakeR30x on a real pty, bytes at the
line rate) through the real driver: GenImg poll until the finger is seen ("hold" appears on the kiosk then),
UpImage with progress, Img2Tz (the sensor's verdict), the quality score, PNG encoding, sealing to the office
(age), and the lift check. The 57600 run is the baseline measured in the same run; ratio = fast / baseline.
Prints figures; not a pass/fail test.

    .venv/bin/python bench/finger_time_to_accept.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from device_drivers.fingerprint import R30xSensor  # noqa: E402
from device_drivers.fingerprint.emulator import FakeR30x  # noqa: E402
from station import keys  # noqa: E402
from station.packets import seal_part  # noqa: E402
from station.quality.fingerprint import fingerprint_score  # noqa: E402


def one_finger(model: str, baud: int, recipient: str) -> tuple[float, float]:
    """(seconds to "hold", seconds to accepted) for one placement."""
    with FakeR30x(model, baudrate=57600, pace=True) as emulator:
        with R30xSensor(emulator.port, baudrate=57600, model=model, timeout_s=2.0) as sensor:
            if baud != 57600:
                sensor.set_baudrate(baud)
            seen = threading.Event()
            seen_at = [0.0]

            def on_finger() -> None:
                seen_at[0] = time.perf_counter()
                seen.set()

            placed = time.perf_counter()
            emulator.place_finger("good", seed=7)
            image = sensor.capture_image(timeout=30.0, on_finger=on_finger, on_progress=lambda _f: None)
            verdict = sensor.image_ok()
            quality = fingerprint_score(image, sensor_ok=verdict)
            ok, png = cv2.imencode(".png", image)
            assert ok and quality.score > 0
            seal_part(png.tobytes(), recipient)
            assert sensor.finger_present()  # held to the end: the touch counts
            accepted = time.perf_counter()
    return seen_at[0] - placed, accepted - placed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="placements per configuration (median is shown)")
    args = parser.parse_args()
    _secret, recipient = keys.generate_age_identity()
    print(f"{'model':6} {'baud':>7} {'to hold s':>10} {'to accepted s':>14} {'ratio':>7}")
    for model in ("R307", "R503"):
        baseline = None
        for baud in (57600, 115200):
            runs = [one_finger(model, baud, recipient) for _ in range(args.repeat)]
            hold = statistics.median(r[0] for r in runs)
            accepted = statistics.median(r[1] for r in runs)
            baseline = baseline or accepted
            print(f"{model:6} {baud:>7} {hold:>10.3f} {accepted:>14.3f} {accepted / baseline:>7.2f}")
    print("ratio = time to accepted / the same model at 57600 (the factory rate), measured in this run")


if __name__ == "__main__":
    main()
