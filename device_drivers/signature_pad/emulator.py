"""FakeTopazPad: a Topaz serial pad on the far end of a pty, signing like a person does.

Signatures are cursive-like: each word is one smooth looping curve (a travelling oscillation with random, slowly
varying height and slant), with occasional pen lifts inside a word, a dot or cross stroke, and a final flourish.
Between strokes the pen hovers (pen-up points) and leaves the pad's range, for which the real pad sends the
X = Y = 0x0FFF marker; the emulator sends it too. Everything is deterministic for a given (name, seed).
"""

from __future__ import annotations

import math
import random
import threading
import time
import zlib
from dataclasses import dataclass

from device_drivers.pty_emulator import PtyEmulator
from device_drivers.signature_pad.protocol import OUT_OF_RANGE, encode_packet
from device_drivers.signature_pad.strokes import SIGLITE_T_S460, PadBounds

FAULTS = ("noise", "truncate", "silence", "unplug")


@dataclass(frozen=True)
class Sample:
    """One pad sample as sent (before encoding)."""

    x: int
    y: int
    pen_down: bool
    out_of_range: bool = False


def generate_signature(name: str = "Siti Aminah", seed: int = 0, bounds: PadBounds = SIGLITE_T_S460
                       ) -> list[list[tuple[int, int]]]:
    """Pen-down strokes (raw pad coordinates) of a plausible handwritten signature of ``name``."""
    rng = random.Random(zlib.crc32(name.encode("utf-8")) ^ (seed * 0x9E3779B1))
    words = [w for w in name.split() if w][:3] or ["x"]
    width = bounds.x_max - bounds.x_min
    height = bounds.y_max - bounds.y_min
    letters = sum(len(w) for w in words) + 2 * (len(words) - 1)
    x = bounds.x_min + 0.06 * width
    usable = 0.86 * width
    baseline = bounds.y_min + rng.uniform(0.62, 0.72) * height
    strokes: list[list[tuple[float, float]]] = []
    for word in words:
        span = usable * len(word) / letters
        strokes.extend(_word_strokes(rng, x, span, len(word), baseline, height))
        if any(c in "itj" for c in word.lower()):
            strokes.append(_dot(rng, x + span * rng.uniform(0.3, 0.8), baseline - 0.45 * height, height))
        x += span + usable * 2 / letters
    strokes.append(_flourish(rng, bounds, baseline, height))
    return [[_clamp(p, bounds) for p in s] for s in strokes if len(s) >= 2]


def _word_strokes(rng: random.Random, x0: float, span: float, n_letters: int, baseline: float,
                  height: float) -> list[list[tuple[float, float]]]:
    samples = 14 * n_letters + 10
    loop = rng.uniform(0.22, 0.32) * span / n_letters        # > span/(2*pi*n): the curve doubles back (loops)
    phase = rng.uniform(0, 2 * math.pi)
    heights = [rng.uniform(0.18, 0.42) * height for _ in range(n_letters + 2)]
    heights[0] = rng.uniform(0.45, 0.6) * height               # the capital
    slant = rng.uniform(0.1, 0.35)
    drift = [(rng.uniform(0.005, 0.03) * height, rng.uniform(0.3, 1.5), rng.uniform(0, 6.3)) for _ in range(3)]
    pts: list[tuple[float, float]] = []
    for i in range(samples):
        u = i / (samples - 1)
        cycles = n_letters * u
        k = min(int(cycles), n_letters - 1)
        frac = cycles - k
        h = heights[k] * (1 - frac) + heights[k + 1] * frac      # letter height varies smoothly
        wave = math.sin(2 * math.pi * cycles + phase)
        rise = 0.5 + 0.5 * math.sin(2 * math.pi * cycles + phase - math.pi / 2)
        y = baseline - h * rise + sum(a * math.sin(2 * math.pi * f * u + p) for a, f, p in drift)
        xx = x0 + span * u + loop * wave + slant * (baseline - y)
        pts.append((xx, y))
    if n_letters >= 4 and rng.random() < 0.5:                    # a pen lift inside the word
        cut = rng.randint(samples // 3, 2 * samples // 3)
        return [pts[:cut], pts[cut + 1:]]
    return [pts]


def _dot(rng: random.Random, x: float, y: float, height: float) -> list[tuple[float, float]]:
    dx = rng.uniform(10, 60)
    return [(x + dx * i / 3, y + rng.uniform(-0.02, 0.02) * height) for i in range(4)]


def _flourish(rng: random.Random, bounds: PadBounds, baseline: float, height: float) -> list[tuple[float, float]]:
    width = bounds.x_max - bounds.x_min
    x0, x1 = bounds.x_min + rng.uniform(0.05, 0.2) * width, bounds.x_max - rng.uniform(0.05, 0.2) * width
    y0 = min(bounds.y_max - 0.04 * height, baseline + rng.uniform(0.12, 0.2) * height)
    bow = rng.uniform(0.04, 0.1) * height
    n = 40
    return [(x0 + (x1 - x0) * i / (n - 1), y0 + bow * math.sin(math.pi * i / (n - 1))) for i in range(n)]


def _clamp(p: tuple[float, float], bounds: PadBounds) -> tuple[int, int]:
    return (min(bounds.x_max, max(bounds.x_min, round(p[0]))), min(bounds.y_max, max(bounds.y_min, round(p[1]))))


def signature_samples(strokes: list[list[tuple[int, int]]], seed: int = 0) -> list[Sample]:
    """What the pad sends for ``strokes``: hover before each stroke, pen-down points, lift, out of range."""
    rng = random.Random(seed)
    out: list[Sample] = []
    for stroke in strokes:
        sx, sy = stroke[0]
        for i in range(3, 0, -1):                                # approaching the glass
            out.append(Sample(sx - 8 * i, sy - 5 * i, False))
        out.extend(Sample(x, y, True) for x, y in stroke)
        ex, ey = stroke[-1]
        out.append(Sample(ex, ey, False))                        # the lift itself
        for _ in range(rng.randint(1, 3)):
            out.append(Sample(OUT_OF_RANGE, OUT_OF_RANGE, False, out_of_range=True))
    return out


class FakeTopazPad(PtyEmulator):
    """The emulator: ``start()``, then the real ``TopazPad(fake.port)`` reads what ``sign()`` writes."""

    def __init__(self, *, baudrate: int = 19200, pace: bool = True, link_dir: str | None = None,
                 name: str = "jemput-sigpad", bounds: PadBounds = SIGLITE_T_S460,
                 sample_rate_hz: float = 120.0) -> None:
        super().__init__(baudrate, name=name, pace=pace, bits_per_byte=11, link_dir=link_dir)
        self.bounds = bounds
        self.sample_rate_hz = sample_rate_hz
        """Pen samples per second while signing (an assumption; Topaz does not publish the serial pads' rate)."""
        self._faults: set[str] = set()
        self._fault_rng = random.Random(1234)
        self.last_samples: list[Sample] = []
        self.bytes_from_driver = 0
        self._sign_thread: threading.Thread | None = None

    def on_bytes(self, data: bytes) -> None:
        """A Topaz serial pad in pen mode ignores what the host writes; we only count it."""
        self.bytes_from_driver += len(data)

    def inject_fault(self, kind: str) -> None:
        """``noise`` / ``truncate`` garble the next signature, ``silence`` mutes the pad, ``unplug`` pulls it."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULTS)}")
        if kind == "unplug":
            self.unplug()
            return
        self._faults.add(kind)

    def reset(self) -> None:
        """Clear injected faults (and plug the pad back in if it was pulled)."""
        self._faults.clear()
        self.replug()

    def sign(self, name: str = "Siti Aminah", seed: int = 0, *, block: bool = True) -> list[Sample]:
        """Replay a signature of ``name``; returns the samples sent (the truth a test compares against).

        With ``pace`` the samples go out at ``sample_rate_hz`` (a signature takes a couple of seconds, as when a
        person signs); without it, as fast as the pty takes them.
        """
        strokes = generate_signature(name, seed, self.bounds)
        samples = signature_samples(strokes, seed)
        self.last_samples = samples
        if "silence" in self._faults:
            return samples
        chunks = self._garble([encode_packet(s.x, s.y, s.pen_down, proximity=not s.out_of_range) for s in samples])
        if block:
            self._send_chunks(chunks)
        else:
            self._sign_thread = threading.Thread(target=self._send_chunks, args=(chunks,), daemon=True,
                                                 name="fake-topaz-sign")
            self._sign_thread.start()
        return samples

    def _send_chunks(self, chunks: list[bytes]) -> None:
        if not self.pace:
            self.send(b"".join(chunks))
            return
        start = time.monotonic()
        for i, chunk in enumerate(chunks):
            delay = start + i / self.sample_rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not self.plugged:
                return
            self.send(chunk)

    def wait_signed(self, timeout_s: float = 10.0) -> None:
        """Wait for a non-blocking ``sign()`` to finish sending."""
        if self._sign_thread is not None:
            self._sign_thread.join(timeout_s)

    def send_garbage(self, n_bytes: int = 32) -> bytes:
        data = bytes(self._fault_rng.randrange(256) for _ in range(n_bytes))
        self.send(data)
        return data

    def _garble(self, chunks: list[bytes]) -> list[bytes]:
        """Apply armed faults to the per-sample packets (one chunk per sample, noise rides on a chunk)."""
        chunks = list(chunks)
        if "truncate" in self._faults and chunks:                 # one packet loses its last two bytes
            i = len(chunks) // 2
            chunks[i] = chunks[i][:3]
        if "noise" in self._faults:                               # bursts of line noise between packets
            rng = self._fault_rng
            for i, chunk in enumerate(chunks):
                if rng.random() < 0.05:
                    noise = bytearray(rng.randrange(128) for _ in range(rng.randint(1, 6)))
                    if rng.random() < 0.5:                        # a stray start byte: forces a resync
                        noise.append(0x80 | rng.randrange(128))
                    chunks[i] = chunk + bytes(noise)
        return chunks
