"""The R30x / ZFM / AS608 serial packet protocol, sans I/O.

Pure bytes in, frames out: building and checking frames, the incremental ``FrameParser`` that survives garbage
on the line, confirmation codes with the datasheet's meaning (defined in ``codes``, re-exported here), the
system-parameter and product-info layouts and the 4-bit image packing. Nothing here touches a port or a clock, so
it is tested (and fuzzed) with bytes alone, and the driver and the emulator share one definition of the wire format.

Frame (big-endian): ``EF 01`` | address (4) | packet id (1) | length (2) = payload + 2 | payload | checksum (2),
where checksum is the low 16 bits of the sum of the packet id, both length bytes and every payload byte.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

# Confirmation codes and their errors live in ``codes``; re-exported so ``protocol`` stays the one import.
from .codes import (  # noqa: F401 - re-exported
    BadPacket,
    ConfirmationCode,
    ConfirmationError,
    ImageCaptureFailed,
    ImageQualityError,
    ImageTooMessy,
    InvalidSetting,
    NoFinger,
    NoValidImage,
    TooFewFeatures,
    UnsupportedCommand,
    WrongPassword,
    describe_code,
    error_for_code,
)

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
HEADER_BYTES = 9  # EF 01, address (4), packet id (1), length (2)
CHECKSUM_BYTES = 2
# Largest length field a real module sends: a 256-byte data packet + checksum. Anything bigger is garbage, which
# bounds how long a false header found in noise can hold the parser.
MAX_LENGTH_FIELD = 256 + CHECKSUM_BYTES
PACKET_SIZES_BYTES = (32, 64, 128, 256)  # data packet size codes 0..3 (system parameter 6)
BAUD_UNIT = 9600  # baud = N x 9600 (system parameter 4)
VALID_BAUD_MULTIPLIERS = (1, 2, 4, 6, 12)


class PacketId(enum.IntEnum):
    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END_DATA = 0x08


class Instruction(enum.IntEnum):
    GEN_IMG = 0x01
    IMG2TZ = 0x02
    MATCH = 0x03
    SEARCH = 0x04
    REG_MODEL = 0x05
    STORE = 0x06
    UP_CHAR = 0x08
    UP_IMAGE = 0x0A
    SET_SYS_PARA = 0x0E
    READ_SYS_PARA = 0x0F
    VFY_PWD = 0x13
    TEMPLATE_NUM = 0x1D
    AURA_LED_CONFIG = 0x35
    READ_PROD_INFO = 0x3C
    HANDSHAKE = 0x40


class SysParam(enum.IntEnum):
    """Register numbers for SetSysPara."""

    BAUD = 4
    SECURITY_LEVEL = 5
    PACKET_SIZE = 6



# frames ---------------------------------------------------------------------------------------------------------
def checksum(pid: int, payload: bytes) -> int:
    length = len(payload) + CHECKSUM_BYTES
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def build_frame(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    if len(payload) + CHECKSUM_BYTES > MAX_LENGTH_FIELD:
        raise ValueError(f"payload of {len(payload)} bytes is larger than a frame can carry")
    length = len(payload) + CHECKSUM_BYTES
    return (HEADER + struct.pack(">IBH", address, pid, length) + bytes(payload)
            + struct.pack(">H", checksum(pid, payload)))


def build_command(instruction: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    return build_frame(PacketId.COMMAND, bytes([instruction]) + params, address)


def build_ack(code: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    return build_frame(PacketId.ACK, bytes([code]) + params, address)


def build_data_frames(data: bytes, packet_size_bytes: int, address: int = DEFAULT_ADDRESS) -> list[bytes]:
    """Split a transfer into data packets; the last one carries the end-of-data packet id."""
    chunks = [data[i:i + packet_size_bytes] for i in range(0, len(data), packet_size_bytes)] or [b""]
    last = len(chunks) - 1
    return [build_frame(PacketId.END_DATA if i == last else PacketId.DATA, chunk, address)
            for i, chunk in enumerate(chunks)]


def frame_wire_bytes(payload_bytes: int) -> int:
    """Bytes on the wire for a frame carrying ``payload_bytes``."""
    return HEADER_BYTES + payload_bytes + CHECKSUM_BYTES


@dataclass(frozen=True)
class Frame:
    address: int
    pid: int
    payload: bytes

    @property
    def code(self) -> int:
        """Confirmation code (acks) or instruction (commands): the first payload byte, -1 if none."""
        return self.payload[0] if self.payload else -1

    @property
    def params(self) -> bytes:
        return self.payload[1:]


@dataclass(frozen=True)
class FrameError:
    """A frame-shaped run of bytes that failed its checksum; the parser has already moved past it."""

    reason: str
    raw: bytes


class FrameParser:
    """Incremental frame finder. ``feed()`` never raises: bad frames come back as ``FrameError`` items.

    On a checksum failure only the first header byte is dropped and the search restarts there, so a real frame
    swallowed by a false header (``EF 01`` occurring in noise) is still found. ``flush()`` is for a quiet line:
    it abandons an incomplete frame at the head and returns whatever complete frames follow it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded_bytes = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        self._buf += data
        return self._scan(final=False)

    def flush(self) -> list[Frame | FrameError]:
        items = self._scan(final=True)
        self.discarded_bytes += len(self._buf)
        self._buf.clear()
        return items

    def _scan(self, *, final: bool) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        buf = self._buf
        pos = 0
        while True:
            start = buf.find(HEADER, pos)
            if start < 0:
                keep = len(buf) - 1 if buf.endswith(HEADER[:1]) else len(buf)
                self._drop(max(keep, pos))
                return out
            outcome = self._try_frame(start)
            if outcome is None:  # header plausible but incomplete
                if not final:
                    self._drop(start)
                    return out
                pos = start + 1
                continue
            if outcome is _NOT_A_HEADER:
                pos = start + 1
                continue
            item, end = outcome
            if isinstance(item, FrameError):
                out.append(item)
                pos = start + 1
                continue
            self.discarded_bytes += start
            out.append(item)
            del buf[:end]
            pos = 0

    def _drop(self, upto: int) -> None:
        self.discarded_bytes += upto
        del self._buf[:upto]

    def _try_frame(self, start: int) -> tuple[Frame | FrameError, int] | object | None:
        buf = self._buf
        if len(buf) - start < HEADER_BYTES:
            return None
        address, pid, length = struct.unpack_from(">IBH", buf, start + 2)
        if pid not in _PACKET_IDS or not CHECKSUM_BYTES < length <= MAX_LENGTH_FIELD:
            return _NOT_A_HEADER
        end = start + HEADER_BYTES + length
        if len(buf) < end:
            return None
        payload = bytes(buf[start + HEADER_BYTES:end - CHECKSUM_BYTES])
        (got,) = struct.unpack_from(">H", buf, end - CHECKSUM_BYTES)
        want = checksum(pid, payload)
        if got != want:
            return FrameError(f"checksum 0x{got:04X}, computed 0x{want:04X}", bytes(buf[start:end])), end
        return Frame(address, pid, payload), end


_NOT_A_HEADER = object()
_PACKET_IDS = frozenset(int(p) for p in PacketId)


# system parameters and product info -----------------------------------------------------------------------------
SYS_PARAMS_FORMAT = ">HHHHIHH"  # status, system id, library size, security level, address, size code, baud N
SYS_PARAMS_BYTES = struct.calcsize(SYS_PARAMS_FORMAT)


def decode_system_parameters(data: bytes) -> dict:
    """ReadSysPara's 16 bytes -> the dict DESIGN §4 promises (packet size in bytes, baud rate in bit/s)."""
    if len(data) < SYS_PARAMS_BYTES:
        raise ValueError(f"system parameters need {SYS_PARAMS_BYTES} bytes, got {len(data)}")
    status, system_id, library, level, address, size_code, baud_n = struct.unpack_from(SYS_PARAMS_FORMAT, data)
    if size_code >= len(PACKET_SIZES_BYTES):
        raise ValueError(f"data packet size code {size_code} is not 0..3")
    return {"status": status, "system_id": system_id, "library_size": library, "security_level": level,
            "address": address, "packet_size": PACKET_SIZES_BYTES[size_code], "baudrate": baud_n * BAUD_UNIT}


def encode_system_parameters(*, status: int, system_id: int, library_size: int, security_level: int,
                             address: int, packet_size_bytes: int, baudrate: int) -> bytes:
    return struct.pack(SYS_PARAMS_FORMAT, status, system_id, library_size, security_level, address,
                       PACKET_SIZES_BYTES.index(packet_size_bytes), baudrate // BAUD_UNIT)


PRODUCT_INFO_FORMAT = ">16s4s8sBB8sHHHH"  # model, batch, serial, hw major/minor, sensor, width, height, tmpl, lib
PRODUCT_INFO_BYTES = struct.calcsize(PRODUCT_INFO_FORMAT)  # 46


@dataclass(frozen=True)
class ProductInfo:
    model: str
    batch: str
    serial: str
    hardware_version: str
    sensor: str
    image_width: int
    image_height: int
    template_bytes: int
    library_size: int


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()


def decode_product_info(data: bytes) -> ProductInfo:
    if len(data) < PRODUCT_INFO_BYTES:
        raise ValueError(f"product info needs {PRODUCT_INFO_BYTES} bytes, got {len(data)}")
    model, batch, serial, hw_major, hw_minor, sensor, width, height, tmpl, lib = struct.unpack_from(
        PRODUCT_INFO_FORMAT, data)
    return ProductInfo(_text(model), _text(batch), _text(serial), f"{hw_major}.{hw_minor}", _text(sensor),
                       width, height, tmpl, lib)


def encode_product_info(info: ProductInfo) -> bytes:
    major, _, minor = info.hardware_version.partition(".")
    return struct.pack(PRODUCT_INFO_FORMAT, info.model.encode(), info.batch.encode(), info.serial.encode(),
                       int(major or 0), int(minor or 0), info.sensor.encode(), info.image_width,
                       info.image_height, info.template_bytes, info.library_size)


# image packing --------------------------------------------------------------------------------------------------
def pack_image(image: np.ndarray) -> bytes:
    """What the chip sends for UpImage: the high nibble of each pixel, two pixels per byte, left pixel high."""
    if image.ndim != 2 or image.shape[1] % 2:
        raise ValueError(f"need a 2-D image with an even width, got shape {image.shape}")
    nibbles = (np.asarray(image, dtype=np.uint8) >> 4).reshape(-1, 2)
    return ((nibbles[:, 0] << 4) | nibbles[:, 1]).astype(np.uint8).tobytes()


def unpack_image(data: bytes, width: int, height: int) -> np.ndarray:
    """Inverse of ``pack_image``: each 4-bit value v becomes v * 17 (0..255), shape (height, width)."""
    if len(data) * 2 != width * height:
        raise ValueError(f"{len(data)} image bytes hold {len(data) * 2} pixels, {width}x{height} needs "
                         f"{width * height}")
    raw = np.frombuffer(data, dtype=np.uint8)
    pixels = np.empty(raw.size * 2, dtype=np.uint8)
    pixels[0::2] = raw >> 4
    pixels[1::2] = raw & 0x0F
    return (pixels * 17).reshape(height, width)


# aura LED ring (R503) -------------------------------------------------------------------------------------------
class AuraMode(enum.IntEnum):
    BREATHING = 0x01
    FLASHING = 0x02
    ON = 0x03
    OFF = 0x04
    FADE_IN = 0x05
    FADE_OUT = 0x06


class AuraColor(enum.IntEnum):
    RED = 0x01
    BLUE = 0x02
    PURPLE = 0x03
    GREEN = 0x04
    YELLOW = 0x05
    CYAN = 0x06
    WHITE = 0x07


def aura_params(mode: int, color: int, speed: int, cycles: int) -> bytes:
    """AuraLedConfig parameters: control code, speed (0-255), colour index, cycles (0 = forever)."""
    if not (0 <= speed <= 255 and 0 <= cycles <= 255):
        raise ValueError(f"speed and cycles must be 0..255, got {speed} and {cycles}")
    return bytes([int(mode), speed, int(color), cycles])
