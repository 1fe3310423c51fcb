"""R30xSensor: the R307 / R503 / AS608 / ZFM-20 fingerprint module over a UART.

The thin I/O layer over ``protocol``: it writes command frames, feeds whatever arrives to the ``FrameParser``
and turns every way a serial link can go wrong into a typed ``DeviceError``. A kiosk runs for days while
residents press, smudge and unplug things, so the driver never assumes: it reads image data until the
end-of-data packet, takes the geometry from the part (or its model entry) rather than a constant, drains the
line after an aborted transfer, and re-opens the port on the next call once the device is back (the frame
exchanges and port handling are in ``link``).
"""

from __future__ import annotations

import collections
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import serial

from ..base import Device, DeviceStatus, Health
from ..errors import DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError
from .link import R30xLink
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
    ProductInfo,
    SysParam,
    UnsupportedCommand,
    WrongPassword,
    aura_params,
    decode_product_info,
    decode_system_parameters,
    unpack_image,
)

_PROBE_TIMEOUT_S = 0.5  # ReadProdInfo on a part that may simply not answer it


class LedCue(enum.Enum):
    """What the ring tells the resident (R503): the station's vocabulary, mapped to aura commands."""

    PLACE_FINGER = (AuraMode.BREATHING, AuraColor.BLUE)
    GOOD = (AuraMode.ON, AuraColor.GREEN)
    TRY_AGAIN = (AuraMode.FLASHING, AuraColor.RED)
    OFF = (AuraMode.OFF, AuraColor.BLUE)


class R30xSensor(R30xLink, Device):
    """One fingerprint module on one port. Thread-safe: one command at a time. Frames and the port: ``link``."""

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

    def capture_image(self, timeout: float = 10.0, *, on_finger: Callable[[], None] | None = None,
                      on_progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Wait for a finger (GenImg poll) then upload the image: uint8 (height, width), 4-bit values x 17.

        ``on_finger()`` is called the moment the finger is seen (before the seconds-long upload) and
        ``on_progress(fraction)`` as the image's data packets arrive, so a kiosk can say "hold still" at once and
        show the read advancing."""
        model = self.model
        deadline = time.monotonic() + timeout
        while not self.finger_present():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"no finger on the sensor within {timeout:g} s", port=self.port,
                                    expected="a finger on the sensor") from None
            time.sleep(min(self.poll_interval_s, remaining))
        if on_finger is not None:
            on_finger()
        return self.upload_image(model, on_progress=on_progress)

    def upload_image(self, model: SensorModel | None = None, *,
                     on_progress: Callable[[float], None] | None = None) -> np.ndarray:
        """UpImage of whatever is in the image buffer (``capture_image`` is the usual way in)."""
        model = model or self.model
        size = f"{model.image_width}x{model.image_height} image"
        total = model.image_bytes
        report = None if on_progress is None else (lambda got: on_progress(min(1.0, got / total)))
        with self._lock:
            data = self._transfer(Instruction.UP_IMAGE, b"", expected=size, on_bytes=report)
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
        """SetSysPara register 4, then re-open the port at the new rate and check the part still answers.

        The part keeps the rate in flash: after a power cycle it answers at the new rate, and a driver started at
        another rate finds it again (``link`` searches the rates when a fresh port gets no answer)."""
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
