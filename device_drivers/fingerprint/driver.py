"""R30xSensor: the R307 / R503 / AS608 / ZFM-20 fingerprint module over a UART.

The thin I/O layer over ``protocol``: it writes command frames, feeds whatever arrives to the ``FrameParser``
and turns every way a serial link can go wrong into a typed ``DeviceError``. A kiosk runs for days while
residents press, smudge and unplug things, so the driver never assumes: it reads image data until the
end-of-data packet, takes the geometry from the part (or its model entry) rather than a constant, drains the
line after an aborted transfer, and re-opens the port on the next call once the device is back.
"""

from __future__ import annotations

import collections
import enum
import os
import threading
import time
from dataclasses import replace

import numpy as np
import serial

from ..base import Device, DeviceStatus, Health
from ..errors import DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError
from .models import GENERIC, SensorModel, get_model, model_for_product_name
from .protocol import (
    BAUD_UNIT,
    DEFAULT_ADDRESS,
    PACKET_SIZES_BYTES,
    VALID_BAUD_MULTIPLIERS,
    AuraColor,
    AuraMode,
    ConfirmationError,
    Frame,
    FrameError,
    FrameParser,
    ImageQualityError,
    Instruction,
    NoFinger,
    PacketId,
    ProductInfo,
    SysParam,
    UnsupportedCommand,
    WrongPassword,
    aura_params,
    build_command,
    decode_product_info,
    decode_system_parameters,
    error_for_code,
    unpack_image,
)

_READ_SLICE_S = 0.05  # longest single blocking read; deadlines are kept by the loops around it
_PROBE_TIMEOUT_S = 0.5  # ReadProdInfo on a part that may simply not answer it
_MAX_DRAIN_S = 15.0  # an aborted 256-byte-packet image at 9600 baud still fits


class LedCue(enum.Enum):
    """What the ring tells the resident (R503): the station's vocabulary, mapped to aura commands."""

    PLACE_FINGER = (AuraMode.BREATHING, AuraColor.BLUE)
    GOOD = (AuraMode.ON, AuraColor.GREEN)
    TRY_AGAIN = (AuraMode.FLASHING, AuraColor.RED)
    OFF = (AuraMode.OFF, AuraColor.BLUE)


class R30xSensor(Device):
    """One fingerprint module on one port. Thread-safe: one command at a time."""

    def __init__(self, port: str, baudrate: int = 57600, address: int = DEFAULT_ADDRESS, password: int = 0,
                 timeout_s: float = 2.0, *, model: str | None = None, poll_interval_s: float = 0.05) -> None:
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self.address = address
        self.password = password
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self._fixed_model = get_model(model) if model else None
        self._detected: SensorModel | None = None
        self._serial: serial.SerialBase | None = None
        self._parser = FrameParser()
        self._backlog: collections.deque[Frame | FrameError] = collections.deque()
        self._lock = threading.RLock()
        self._stale = False  # an exchange was aborted: the line may still carry its tail
        self._last_error = ""
        try:
            with self._lock:
                self._ensure_open()
        except DeviceError as exc:  # absent at start is a state, not a crash: status() says so, calls retry
            self._last_error = str(exc)

    # public API -------------------------------------------------------------------------------------------------
    @property
    def model(self) -> SensorModel:
        """The part's model: given, read from the part, or the generic 256x288 R30x window."""
        with self._lock:
            return self._model()

    @property
    def discarded_bytes(self) -> int:
        """Bytes stepped over while resyncing (since this object was made): line noise shows up here."""
        return self._parser.discarded_bytes

    def verify_password(self) -> None:
        """VfyPwd; raises ``WrongPassword`` (carrying the code) if the module refuses."""
        self._command(Instruction.VFY_PWD, self.password.to_bytes(4, "big"), expected="password accepted")

    def read_system_parameters(self) -> dict:
        """status, system_id, library_size, security_level, address, packet_size (bytes), baudrate (bit/s)."""
        ack = self._command(Instruction.READ_SYS_PARA, expected="system parameters")
        try:
            return decode_system_parameters(ack.params)
        except ValueError as exc:
            raise ProtocolError(f"bad system parameters: {exc}", port=self.port,
                                expected="16 bytes of system parameters") from exc

    def read_product_info(self) -> ProductInfo | None:
        """ReadProdInfo (R503 and newer); None when the part does not have the command."""
        return self._product_info(self.timeout_s)

    def finger_present(self) -> bool:
        """One GenImg: True if a finger is on the glass (its image is now in the buffer), False if not.

        The R30x protocol has no cheaper presence check; this skips the slow image upload, so the station can wait
        for a finger to be lifted between attempts."""
        try:
            self._command(Instruction.GEN_IMG, expected="a finger image (GenImg)")
        except NoFinger:
            return False
        return True

    def capture_image(self, timeout: float = 10.0) -> np.ndarray:
        """Wait for a finger (GenImg poll) then upload the image: uint8 (height, width), 4-bit values x 17."""
        model = self.model
        deadline = time.monotonic() + timeout
        while not self.finger_present():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"no finger on the sensor within {timeout:g} s", port=self.port,
                                    expected="a finger on the sensor") from None
            time.sleep(min(self.poll_interval_s, remaining))
        return self.upload_image(model)

    def upload_image(self, model: SensorModel | None = None) -> np.ndarray:
        """UpImage of whatever is in the image buffer (``capture_image`` is the usual way in)."""
        model = model or self.model
        size = f"{model.image_width}x{model.image_height} image"
        with self._lock:
            data = self._transfer(Instruction.UP_IMAGE, b"", expected=size)
        try:
            return unpack_image(data, model.image_width, model.image_height)
        except ValueError as exc:
            raise ProtocolError(f"image transfer has the wrong size: {exc}", port=self.port, expected=size) from exc

    def create_template(self, buffer_id: int = 1) -> bytes:
        """Img2Tz on the captured image then UpChar: the sensor's feature template.

        ``ImageTooMessy`` / ``TooFewFeatures`` (both ``ImageQualityError``) are the sensor's verdict that the
        image is not usable, which the station feeds to its quality score as ``sensor_ok``.
        """
        with self._lock:
            self._command(Instruction.IMG2TZ, bytes([buffer_id]), expected="features from the image (Img2Tz)")
            return self._transfer(Instruction.UP_CHAR, bytes([buffer_id]), expected="a feature template")

    def image_ok(self, buffer_id: int = 1) -> bool:
        """The sensor's own verdict on the captured image (Img2Tz succeeds or not)."""
        try:
            self._command(Instruction.IMG2TZ, bytes([buffer_id]), expected="features from the image (Img2Tz)")
        except ImageQualityError:
            return False
        return True

    def set_baudrate(self, baud: int) -> None:
        """SetSysPara register 4, then re-open the port at the new rate and check the part still answers."""
        multiplier, rest = divmod(baud, BAUD_UNIT)
        if rest or multiplier not in VALID_BAUD_MULTIPLIERS:
            rates = ", ".join(str(n * BAUD_UNIT) for n in VALID_BAUD_MULTIPLIERS)
            raise ValueError(f"unsupported baud rate {baud}; the R30x family supports {rates}")
        with self._lock:
            self._command(Instruction.SET_SYS_PARA, bytes([SysParam.BAUD, multiplier]), expected="new baud rate")
            self._drop_port()
            self.baudrate = baud
            self.verify_password()

    def set_packet_size(self, size_bytes: int) -> None:
        """SetSysPara register 6: data packet payload of 32, 64, 128 or 256 bytes."""
        if size_bytes not in PACKET_SIZES_BYTES:
            raise ValueError(f"packet size must be one of {PACKET_SIZES_BYTES}, got {size_bytes}")
        code = PACKET_SIZES_BYTES.index(size_bytes)
        self._command(Instruction.SET_SYS_PARA, bytes([SysParam.PACKET_SIZE, code]), expected="new packet size")

    def set_led(self, mode: AuraMode, color: AuraColor, speed: int = 0x80, cycles: int = 0) -> bool:
        """Aura ring (R503). Returns False, sending nothing, on parts without the ring."""
        params = aura_params(mode, color, speed, cycles)
        with self._lock:
            if not self._model().has_aura_led:
                return False
            try:
                self._command(Instruction.AURA_LED_CONFIG, params, expected="LED setting")
            except UnsupportedCommand:
                return False
        return True

    def show_cue(self, cue: LedCue) -> bool:
        """Breathing blue = place your finger, green = good, flashing red = try again."""
        mode, color = cue.value
        return self.set_led(mode, color, cycles=0 if mode is AuraMode.BREATHING else 3)

    def status(self) -> DeviceStatus:
        """ok / absent (port gone or closed) / fault (there but not answering properly), with the reason."""
        if self.closed:
            return DeviceStatus(Health.ABSENT, "closed")
        try:
            with self._lock:
                self._exchange_checked(Instruction.VFY_PWD, self.password.to_bytes(4, "big"),
                                       expected="password accepted", timeout_s=min(self.timeout_s, 1.0))
        except DeviceDisconnected as exc:
            return DeviceStatus(Health.ABSENT, str(exc))
        except WrongPassword as exc:
            return DeviceStatus(Health.FAULT, str(exc))
        except DeviceError as exc:
            return DeviceStatus(Health.FAULT, str(exc))
        return DeviceStatus.ok(self._model_label())

    # model detection --------------------------------------------------------------------------------------------
    def _model(self) -> SensorModel:
        if self._fixed_model is not None:
            return self._fixed_model
        if self._detected is None:
            try:
                info = self._product_info(_PROBE_TIMEOUT_S)
            except ConfirmationError:
                info = None
            except DeviceTimeout:  # no answer is not an answer: assume, but ask again next time
                return GENERIC
            self._detected = _model_from_info(info)
        return self._detected

    def _model_label(self) -> str:
        model = self._fixed_model or self._detected
        return f"{model.name} on {self.port}" if model else f"R30x on {self.port}"

    def _product_info(self, timeout_s: float) -> ProductInfo | None:
        try:
            ack = self._command(Instruction.READ_PROD_INFO, expected="product information", timeout_s=timeout_s)
        except UnsupportedCommand:
            return None
        try:
            return decode_product_info(ack.params)
        except ValueError as exc:
            raise ProtocolError(f"bad product information: {exc}", port=self.port,
                                expected="46 bytes of product information") from exc

    # exchanges --------------------------------------------------------------------------------------------------
    def _command(self, instruction: int, params: bytes = b"", *, expected: str,
                 timeout_s: float | None = None) -> Frame:
        with self._lock:
            return self._exchange_checked(instruction, params, expected=expected, timeout_s=timeout_s)

    def _transfer(self, instruction: int, params: bytes, *, expected: str) -> bytes:
        """A command whose OK ack is followed by data packets; returns their payloads joined."""
        self._exchange_checked(instruction, params, expected=expected)
        try:
            return self._read_data(expected)
        except DeviceError:
            self._stale = True
            raise

    def _exchange_checked(self, instruction: int, params: bytes, *, expected: str,
                          timeout_s: float | None = None) -> Frame:
        ack = self._exchange(instruction, params, expected=expected, timeout_s=timeout_s)
        if ack.code != 0:
            raise error_for_code(ack.code, port=self.port, expected=expected)
        return ack

    def _exchange(self, instruction: int, params: bytes, *, expected: str, timeout_s: float | None) -> Frame:
        """Send one command and return its ack; retries once if the old port died while we were idle."""
        frame = build_command(instruction, params, self.address)
        reopened = self._ensure_open()
        try:
            self._write(frame)
        except DeviceDisconnected:
            if reopened:
                raise
            self._ensure_open()  # the device came back behind the same name: one fresh attempt
            self._write(frame)
        try:
            return self._await_ack(time.monotonic() + (timeout_s or self.timeout_s), expected)
        except DeviceError:
            self._stale = True
            raise

    def _ensure_open(self) -> bool:
        """Open the port if needed (True if it was opened now). Verifies the password on a fresh link."""
        if self.closed:
            raise DeviceDisconnected("fingerprint sensor was closed", port=self.port)
        if self._serial is not None and self._port_replaced():
            self._drop_port()
        if self._serial is not None:
            return False
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=_READ_SLICE_S,
                                                 write_timeout=self.timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._last_error = f"cannot open fingerprint sensor: {exc}"
            raise DeviceDisconnected(self._last_error, port=self.port, expected="a serial port") from exc
        self._reset_reader()
        self._detected = None  # it may be a different part now
        self._stale = False
        if self.password:
            self._exchange_checked(Instruction.VFY_PWD, self.password.to_bytes(4, "big"),
                                   expected="password accepted")
        return True

    def _port_replaced(self) -> bool:
        """True if the port name now leads elsewhere (unplugged, or re-enumerated as a new tty) than our fd.

        A hung-up tty still accepts writes, so without this the first command after a replug would fail.
        """
        if "://" in self.port or self._serial is None:
            return False
        try:
            return os.stat(self.port).st_rdev != os.fstat(self._serial.fileno()).st_rdev
        except (OSError, ValueError, serial.SerialException):
            return True

    def _drop_port(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _lost(self, exc: BaseException, doing: str) -> DeviceDisconnected:
        self._drop_port()
        self._last_error = f"fingerprint sensor disconnected while {doing}: {exc}"
        return DeviceDisconnected(self._last_error, port=self.port)

    def _write(self, data: bytes) -> None:
        ser = self._serial
        assert ser is not None
        if self._stale:
            self._drain()
        try:
            ser.reset_input_buffer()
            self._reset_reader()
            ser.write(data)
        except serial.SerialTimeoutException as exc:
            self._stale = True
            raise DeviceTimeout(f"write timed out: {exc}", port=self.port,
                                expected="the line to accept a command") from exc
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._lost(exc, "writing") from exc

    def _read_chunk(self) -> bytes:
        ser = self._serial
        if ser is None:
            raise DeviceDisconnected("fingerprint sensor port is not open", port=self.port)
        try:
            return ser.read(ser.in_waiting or 1)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._lost(exc, "reading") from exc

    def _drain(self) -> None:
        """Read and drop until the line is quiet: the tail of an aborted transfer must not look like a reply."""
        quiet_s = max(0.1, 300 * 10 / self.baudrate)
        start = last = time.monotonic()
        while True:
            now = time.monotonic()
            if self._read_chunk():
                last = now
            elif now - last >= quiet_s:
                break
            if now - start > _MAX_DRAIN_S:
                raise ProtocolError("the line never went quiet after an aborted transfer", port=self.port,
                                    expected="silence between replies")
        self._reset_reader()
        self._stale = False

    def _reset_reader(self) -> None:
        self._parser.reset()
        self._backlog.clear()

    def _next_item(self, deadline: float) -> Frame | FrameError | None:
        """The next frame (for our address) or damaged frame; None once the deadline has passed."""
        while not self._backlog:
            if time.monotonic() >= deadline:
                return None
            self._backlog.extend(item for item in self._parser.feed(self._read_chunk())
                                 if not isinstance(item, Frame) or item.address == self.address)
        return self._backlog.popleft()

    def _await_ack(self, deadline: float, expected: str) -> Frame:
        bad: FrameError | None = None
        while (item := self._next_item(deadline)) is not None:
            if isinstance(item, FrameError):
                bad = item
            elif item.pid == PacketId.ACK:
                return item
        partial = self._parser.pending_bytes
        for item in self._parser.flush():  # quiet line: give up on a half frame, look past it
            if isinstance(item, Frame) and item.pid == PacketId.ACK and item.address == self.address:
                return item
            if isinstance(item, FrameError):
                bad = item
        raise self._no_reply(bad, partial, expected)

    def _read_data(self, expected: str) -> bytes:
        """Data packets until the end-of-data packet; each must arrive within the timeout of the previous one."""
        chunks: list[bytes] = []
        while (item := self._next_item(time.monotonic() + self.timeout_s)) is not None:
            if isinstance(item, FrameError):
                raise ProtocolError(f"damaged data packet after {len(chunks)} good ones: {item.reason}",
                                    port=self.port, expected=expected)
            if item.pid not in (PacketId.DATA, PacketId.END_DATA):
                raise ProtocolError(f"packet id 0x{item.pid:02X} inside a data transfer", port=self.port,
                                    expected=expected)
            chunks.append(item.payload)
            if item.pid == PacketId.END_DATA:
                return b"".join(chunks)
        raise self._no_reply(None, self._parser.pending_bytes,
                             f"{expected} (got {len(chunks)} data packets, no end-of-data packet)")

    def _no_reply(self, bad: FrameError | None, partial_bytes: int, expected: str) -> DeviceError:
        if bad is not None:
            return ProtocolError(f"damaged reply: {bad.reason}", port=self.port, expected=expected)
        if partial_bytes:
            return ProtocolError(f"truncated frame ({partial_bytes} bytes), then silence", port=self.port,
                                 expected=expected)
        return DeviceTimeout(f"no reply within {self.timeout_s:g} s", port=self.port, expected=expected)

    def _close(self) -> None:
        with self._lock:
            self._drop_port()


def _model_from_info(info: ProductInfo | None) -> SensorModel:
    if info is None:
        return GENERIC
    known = model_for_product_name(info.model)
    base = known or replace(GENERIC, name=info.model or "R30x", has_aura_led=False, has_product_info=True)
    if (base.image_width, base.image_height) != (info.image_width, info.image_height) and info.image_width:
        base = replace(base, image_width=info.image_width, image_height=info.image_height)
    return base
