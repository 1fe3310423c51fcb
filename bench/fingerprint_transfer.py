"""How close does a fingerprint capture get to the UART's line rate?

For the R307 (256x288) and R503 (192x192) at 57600 and 115200 baud, captures one image from the paced emulator
(FakeR30x on a real pty, driven by the real R30xSensor through pyserial) and compares the wall time with the
line-rate bound measured in the same run: every frame byte that crossed the wire (commands, acks, data packets)
x 10 bits / baud. efficiency = bound / measured; the goal is >= 0.95. An unpaced capture is the baseline for
the driver's own CPU cost. Prints figures; not a pass/fail test.

    .venv/bin/python bench/fingerprint_transfer.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device_drivers.fingerprint import R30xSensor, get_model  # noqa: E402
from device_drivers.fingerprint.emulator import FakeR30x  # noqa: E402
from device_drivers.pty_emulator import BITS_PER_BYTE  # noqa: E402

COMMAND_FRAME_BYTES = 12  # GenImg and UpImage carry no parameters: 9 header + 1 instruction + 2 checksum


def one_capture(model: str, baud: int, *, pace: bool) -> tuple[float, int]:
    """(seconds for capture_image, frame bytes on the wire in both directions)."""
    with FakeR30x(model, baudrate=57600, pace=pace) as emulator:
        with R30xSensor(emulator.port, baudrate=57600, model=model, timeout_s=2.0) as sensor:
            if baud != 57600:
                sensor.set_baudrate(baud)
            emulator.place_finger("good", seed=1)
            sent_before, commands_before = emulator.bytes_sent, len(emulator.commands_seen)
            start = time.perf_counter()
            image = sensor.capture_image(timeout=30.0)
            elapsed = time.perf_counter() - start
            wire = (emulator.bytes_sent - sent_before
                    + (len(emulator.commands_seen) - commands_before) * COMMAND_FRAME_BYTES)
            assert image.shape == (emulator.image_size[1], emulator.image_size[0])
    return elapsed, wire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="captures per configuration (median is shown)")
    args = parser.parse_args()
    print(f"{'model':6} {'baud':>7} {'image':>8} {'wire bytes':>10} {'bound s':>8} {'measured s':>10} "
          f"{'efficiency':>10} {'unpaced s':>9}")
    for model in ("R307", "R503"):
        for baud in (57600, 115200):
            runs = [one_capture(model, baud, pace=True) for _ in range(args.repeat)]
            measured = statistics.median(r[0] for r in runs)
            wire = runs[0][1]
            bound = wire * BITS_PER_BYTE / baud
            unpaced, _ = one_capture(model, baud, pace=False)
            info = get_model(model)
            print(f"{model:6} {baud:>7} {info.image_width:>4}x{info.image_height:<3} {wire:>10} {bound:>8.3f} "
                  f"{measured:>10.3f} "
                  f"{bound / measured:>10.3f} {unpaced:>9.3f}")
    print("efficiency = line-rate bound / measured (goal >= 0.95); unpaced = same capture, emulator not paced")


if __name__ == "__main__":
    main()
