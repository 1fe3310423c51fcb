"""Topaz serial pen-data format, as pure bytes in / points out (no I/O, no clock).

A Topaz serial pad (SigLite family, 19200 baud 8O1) streams 5-byte packets while the pen is near the glass:

    byte 0: 1 P 0 0 0 0 0 D    bit 7 = start of packet, bit 6 = pen in proximity, bit 0 = pen down (touching)
    byte 1: 0 x6 .. x0         low 7 bits of X
    byte 2: 0 0 0 x11 .. x7    high 5 bits of X
    byte 3: 0 y6 .. y0         low 7 bits of Y
    byte 4: 0 0 0 y11 .. y7    high 5 bits of Y

Only byte 0 has bit 7 set, which is what lets a reader find packet starts in a stream it joined half-way or that
lost bytes. X = Y = 0x0FFF is the pad's "pen out of range" marker and carries no position, so it is dropped.
The pads report no pressure levels: ``pressure`` is 1 while the pen touches and 0 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKET_BYTES = 5
START_BIT = 0x80
PROXIMITY_BIT = 0x40
PEN_DOWN_BIT = 0x01
OUT_OF_RANGE = 0x0FFF
MAX_COORD = 0x0FFF


@dataclass(frozen=True)
class PenPoint:
    x: int
    """Raw pad X (0..4095; the SigLite's inked area is a sub-range, see strokes.PadBounds)."""
    y: int
    pressure: int
    """1 while the pen touches, 0 while it hovers (Topaz serial pads have no pressure levels)."""
    pen_down: bool
    t: float
    """Seconds (monotonic clock of the reader) when the point arrived; 0.0 from the pure decoder."""

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "pressure": self.pressure, "pen_down": self.pen_down, "t": self.t}


def encode_packet(x: int, y: int, pen_down: bool, *, proximity: bool = True) -> bytes:
    """The 5 bytes a pad sends for one sample (used by the emulator and by tests)."""
    if not (0 <= x <= MAX_COORD and 0 <= y <= MAX_COORD):
        raise ValueError(f"coordinates must be 0..{MAX_COORD}, got ({x}, {y})")
    b0 = START_BIT | (PROXIMITY_BIT if proximity else 0) | (PEN_DOWN_BIT if pen_down else 0)
    return bytes((b0, x & 0x7F, (x >> 7) & 0x1F, y & 0x7F, (y >> 7) & 0x1F))


def decode_packet(packet: bytes, t: float = 0.0) -> PenPoint | None:
    """One complete, well-formed 5-byte packet -> a point, or None for the out-of-range marker."""
    b0, b1, b2, b3, b4 = packet
    x = ((b2 & 0x1F) << 7) | (b1 & 0x7F)
    y = ((b4 & 0x1F) << 7) | (b3 & 0x7F)
    if x == OUT_OF_RANGE and y == OUT_OF_RANGE:
        return None
    pen_down = bool(b0 & PEN_DOWN_BIT)
    return PenPoint(x, y, 1 if pen_down else 0, pen_down, t)


class TopazDecoder:
    """Incremental decoder: feed it whatever the port returned; it keeps a partial packet between calls.

    It never raises on bad input: garbage before a start byte is skipped, a packet cut short by a new start byte is
    dropped (resync), and a packet whose high bytes have bits that must be zero is dropped. The counters say how
    much was lost, so a driver can report a noisy line without failing a signature.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped_bytes = 0
        """Bytes seen outside any packet (noise before a start byte)."""
        self.dropped_packets = 0
        """Packets cut short by a new start byte, or malformed."""
        self.out_of_range = 0
        """0x0FFF "pen out of range" packets (discarded, as the format requires)."""
        self.decoded = 0

    def reset(self) -> None:
        """Forget any partial packet (after a reconnect the stream starts afresh)."""
        self._buf.clear()

    def feed(self, data: bytes, t: float = 0.0) -> list[PenPoint]:
        """Decode ``data``; points are stamped with ``t``."""
        points: list[PenPoint] = []
        buf = self._buf
        for byte in data:
            if byte & START_BIT:
                if buf:
                    self.dropped_packets += 1
                    buf.clear()
                buf.append(byte)
                continue
            if not buf:
                self.skipped_bytes += 1
                continue
            buf.append(byte)
            if len(buf) < PACKET_BYTES:
                continue
            packet = bytes(buf)
            buf.clear()
            if packet[2] & 0x60 or packet[4] & 0x60:
                self.dropped_packets += 1
                continue
            point = decode_packet(packet, t)
            if point is None:
                self.out_of_range += 1
                continue
            self.decoded += 1
            points.append(point)
        return points

    @property
    def pending_bytes(self) -> int:
        """Bytes of a packet started but not yet complete."""
        return len(self._buf)
