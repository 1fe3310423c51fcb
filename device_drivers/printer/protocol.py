"""ESC/POS, the byte language of receipt printers: pure functions from what to print to bytes, and back.

Builders (``init``, ``text_line``, ``qr_code``, ``raster_image``, ``cut`` ...) produce the commands a 58 mm thermal
printer understands; ``EscPosDecoder`` is the inverse, an incremental parser that turns a byte stream into
``Line``, ``QrCode``, ``Raster``, ``Cut`` and ``StatusQuery`` items. The emulator prints with the decoder, so a
test reads a slip the way a person would; the real driver never needs it. Nothing here does I/O.

The commands used (Epson ESC/POS reference, common to the 58 mm clones):
``ESC @`` init, ``ESC t n`` code page, ``ESC a n`` align, ``ESC E n`` bold, ``GS ! n`` character size,
``LF`` print line, ``ESC d n`` feed lines, ``GS V m`` cut, ``GS ( k`` QR (model, module size, error correction,
store, print), ``GS v 0`` raster bit image, ``DLE EOT n`` real-time status.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field

import numpy as np

ESC, GS, DLE, EOT, LF = 0x1B, 0x1D, 0x10, 0x04, 0x0A
CHARS_PER_LINE = 32
"""Font A (12x24 dots) on a 58 mm head (384 dots)."""
HEAD_DOTS = 384


class Align(enum.IntEnum):
    LEFT = 0
    CENTER = 1
    RIGHT = 2


class QrErrorCorrection(enum.IntEnum):
    L = 0x30
    M = 0x31
    Q = 0x32
    H = 0x33


class StatusKind(enum.IntEnum):
    """``DLE EOT n``: which real-time status byte is asked for."""

    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR_CAUSE = 3
    PAPER_SENSOR = 4


# Every status byte has bits 1 and 4 set and bits 0 and 7 clear; anything else is not a status answer.
STATUS_FIXED_MASK, STATUS_FIXED_BITS = 0x93, 0x12
OFFLINE = 0x08  # PRINTER byte
COVER_OPEN = 0x04  # OFFLINE_CAUSE byte
PAPER_END_STOP = 0x20  # OFFLINE_CAUSE byte: printing stopped because the paper ran out
ERROR_OCCURRED = 0x40  # OFFLINE_CAUSE byte
PAPER_NEAR_END = 0x0C  # PAPER_SENSOR byte
PAPER_END = 0x60  # PAPER_SENSOR byte


# -- builders ---------------------------------------------------------------------------------------------------

def init() -> bytes:
    """``ESC @`` then code page PC437 (``ESC t 0``): a known state before every slip."""
    return bytes([ESC, 0x40, ESC, 0x74, 0x00])


def align(where: Align) -> bytes:
    return bytes([ESC, 0x61, int(where)])


def bold(on: bool) -> bytes:
    return bytes([ESC, 0x45, 1 if on else 0])


def char_size(width: int = 1, height: int = 1) -> bytes:
    """``GS ! n``: 1-8 times wider / taller."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError("character size must be 1-8 in each direction")
    return bytes([GS, 0x21, ((width - 1) << 4) | (height - 1)])


def printable(text: str) -> bytes:
    """Text as the printer's code page can show it: accents folded to ASCII, control bytes dropped."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded if ch >= " " and ch != "\x7f").encode("ascii")


def text_line(text: str) -> bytes:
    return printable(text) + bytes([LF])


def feed(lines: int) -> bytes:
    return bytes([ESC, 0x64, max(0, min(255, lines))])


def cut(partial: bool = True) -> bytes:
    """``GS V 66 n``: feed to the cutter then cut (partial cut leaves a hinge, as most 58 mm cutters do)."""
    return bytes([GS, 0x56, 0x42 if partial else 0x41, 0x03])


def _qr_function(fn: int, data: bytes) -> bytes:
    size = len(data) + 2  # cn (49 = QR) + fn
    return bytes([GS, 0x28, 0x6B, size & 0xFF, size >> 8, 0x31, fn]) + data


def qr_code(payload: str, *, module_dots: int = 5, ec: QrErrorCorrection = QrErrorCorrection.M) -> bytes:
    """The printer draws the QR itself (``GS ( k``): select model 2, module size, error correction, store, print."""
    data = payload.encode("ascii")
    if not 1 <= module_dots <= 16:
        raise ValueError("QR module size must be 1-16 dots")
    if len(data) > 7089:
        raise ValueError("QR payload too long")
    return (_qr_function(0x41, bytes([0x32, 0x00]))  # fn 165: model 2
            + _qr_function(0x43, bytes([module_dots]))  # fn 167: module size
            + _qr_function(0x45, bytes([int(ec)]))  # fn 169: error correction
            + _qr_function(0x50, b"\x30" + data)  # fn 180: store the data
            + _qr_function(0x51, b"\x30"))  # fn 181: print what is stored


def raster_image(bits: np.ndarray) -> bytes:
    """``GS v 0``: a 1-bit image (bool array, True = black), rows padded to whole bytes, MSB = leftmost dot."""
    if bits.ndim != 2:
        raise ValueError("raster image must be 2-D")
    height, width = bits.shape
    if width > HEAD_DOTS or height > 0xFFFF or width == 0 or height == 0:
        raise ValueError(f"raster image must be 1-{HEAD_DOTS} dots wide, got {width}x{height}")
    packed = np.packbits(bits.astype(bool), axis=1)
    row_bytes = packed.shape[1]
    return bytes([GS, 0x76, 0x30, 0x00, row_bytes & 0xFF, row_bytes >> 8, height & 0xFF, height >> 8]) \
        + packed.tobytes()


def status_query(kind: StatusKind) -> bytes:
    return bytes([DLE, EOT, int(kind)])


# -- status -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrinterState:
    """What the real-time status bytes say."""

    offline: bool = False
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    error: bool = False

    @property
    def ready(self) -> bool:
        return not (self.offline or self.cover_open or self.paper_out or self.error)


def is_status_byte(value: int) -> bool:
    return value & STATUS_FIXED_MASK == STATUS_FIXED_BITS


def decode_status(printer: int, offline_cause: int, paper_sensor: int) -> PrinterState:
    """Three answers (``DLE EOT 1, 2, 4``) to one state; ``ValueError`` if any is not a status byte."""
    for value in (printer, offline_cause, paper_sensor):
        if not is_status_byte(value):
            raise ValueError(f"0x{value:02X} is not an ESC/POS status byte")
    return PrinterState(
        offline=bool(printer & OFFLINE),
        cover_open=bool(offline_cause & COVER_OPEN),
        paper_out=bool(offline_cause & PAPER_END_STOP) or bool(paper_sensor & PAPER_END),
        paper_near_end=bool(paper_sensor & PAPER_NEAR_END),
        error=bool(offline_cause & ERROR_OCCURRED),
    )


def encode_status(kind: StatusKind, state: PrinterState) -> int:
    """The byte a printer in ``state`` answers to ``DLE EOT kind`` (the emulator's side)."""
    value = STATUS_FIXED_BITS
    if kind is StatusKind.PRINTER and not state.ready:
        value |= OFFLINE
    elif kind is StatusKind.OFFLINE_CAUSE:
        value |= (COVER_OPEN if state.cover_open else 0) | (PAPER_END_STOP if state.paper_out else 0) \
            | (ERROR_OCCURRED if state.error else 0)
    elif kind is StatusKind.PAPER_SENSOR:
        value |= (PAPER_END if state.paper_out else 0) | (PAPER_NEAR_END if state.paper_near_end else 0)
    return value


# -- decoding -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    text: str
    align: Align = Align.LEFT
    bold: bool = False
    size: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class QrCode:
    payload: str
    module_dots: int
    ec: QrErrorCorrection


@dataclass(frozen=True)
class Raster:
    bits: np.ndarray = field(compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in dots."""
        return (int(self.bits.shape[1]), int(self.bits.shape[0]))


@dataclass(frozen=True)
class Feed:
    lines: int


@dataclass(frozen=True)
class Cut:
    partial: bool


@dataclass(frozen=True)
class StatusQuery:
    kind: StatusKind


Item = Line | QrCode | Raster | Feed | Cut | StatusQuery


class EscPosDecoder:
    """Incremental: ``feed(bytes) -> items``; a command split across two calls still decodes.

    Unknown ESC/GS commands are skipped by their known lengths where possible and counted in ``skipped``; text
    is collected until ``LF``. Only the commands listed in the module docstring are understood.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._text = bytearray()
        self._align = Align.LEFT
        self._bold = False
        self._size = (1, 1)
        self._qr_module, self._qr_ec, self._qr_data = 3, QrErrorCorrection.L, b""
        self.skipped = 0

    def feed(self, data: bytes) -> list[Item]:
        self._buf += data
        items: list[Item] = []
        while self._buf:
            used = self._step(items)
            if used == 0:
                break  # an incomplete command: wait for more bytes
            del self._buf[:used]
        return items

    def _line(self, items: list[Item]) -> None:
        items.append(Line(self._text.decode("ascii", "replace"), self._align, self._bold, self._size))
        self._text.clear()

    def _step(self, items: list[Item]) -> int:
        b = self._buf
        first = b[0]
        if first == LF:
            self._line(items)
            return 1
        if first == DLE:
            if len(b) < 3:
                return 0
            if b[1] == EOT and b[2] in tuple(StatusKind):
                items.append(StatusQuery(StatusKind(b[2])))
            else:
                self.skipped += 1
            return 3
        if first == ESC:
            return self._esc(items)
        if first == GS:
            return self._gs(items)
        if first < 0x20:
            self.skipped += 1
            return 1
        self._text.append(first)
        return 1

    def _esc(self, items: list[Item]) -> int:
        b = self._buf
        if len(b) < 2:
            return 0
        cmd = b[1]
        if cmd == 0x40:  # ESC @
            self._align, self._bold, self._size = Align.LEFT, False, (1, 1)
            self._text.clear()
            return 2
        if len(b) < 3:
            return 0
        arg = b[2]
        if cmd == 0x61:
            self._align = Align(arg % 3)
        elif cmd == 0x45:
            self._bold = bool(arg & 1)
        elif cmd == 0x64:
            if self._text:
                self._line(items)
            items.append(Feed(arg))
        elif cmd != 0x74:  # ESC t: code page, nothing to show
            self.skipped += 1
        return 3

    def _gs(self, items: list[Item]) -> int:
        b = self._buf
        if len(b) < 2:
            return 0
        cmd = b[1]
        if cmd == 0x21:
            if len(b) < 3:
                return 0
            self._size = ((b[2] >> 4) + 1, (b[2] & 0x0F) + 1)
            return 3
        if cmd == 0x56:
            if len(b) < 3:
                return 0
            mode = b[2]
            if mode in (0x41, 0x42):
                if len(b) < 4:
                    return 0
                items.append(Cut(partial=mode == 0x42))
                return 4
            items.append(Cut(partial=mode in (0x01, 0x31)))
            return 3
        if cmd == 0x28:
            return self._gs_paren(items)
        if cmd == 0x76:
            return self._raster(items)
        self.skipped += 1
        return 2

    def _gs_paren(self, items: list[Item]) -> int:
        b = self._buf
        if len(b) < 5:
            return 0
        size = b[3] | (b[4] << 8)
        if len(b) < 5 + size:
            return 0
        body = bytes(b[5:5 + size])
        if b[2] == 0x6B and len(body) >= 2 and body[0] == 0x31:
            fn, args = body[1], body[2:]
            if fn == 0x43 and args:
                self._qr_module = args[0]
            elif fn == 0x45 and args and args[0] in tuple(QrErrorCorrection):
                self._qr_ec = QrErrorCorrection(args[0])
            elif fn == 0x50 and args[:1] == b"\x30":
                self._qr_data = args[1:]
            elif fn == 0x51:
                items.append(QrCode(self._qr_data.decode("ascii", "replace"), self._qr_module, self._qr_ec))
        else:
            self.skipped += 1
        return 5 + size

    def _raster(self, items: list[Item]) -> int:
        b = self._buf
        if len(b) < 8:
            return 0
        row_bytes, height = b[4] | (b[5] << 8), b[6] | (b[7] << 8)
        total = 8 + row_bytes * height
        if len(b) < total:
            return 0
        packed = np.frombuffer(bytes(b[8:total]), dtype=np.uint8).reshape(height, row_bytes)
        items.append(Raster(np.unpackbits(packed, axis=1).astype(bool)))
        return total
