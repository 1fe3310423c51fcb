"""FakeR30x: an R30x-family module on the far end of a pseudo-terminal.

It answers the real command frames with the real acknowledge and data packets, so ``R30xSensor`` runs unchanged
against it in tests and under ``--simulate``: confirmation codes (no finger, wrong password, damaged packet,
image too messy / too few features), data packet size, baud-rate changes (after SetSysPara it switches its own
line rate and ignores a driver still talking at the old one), pacing at the line rate, and the faults a kiosk
meets in the field (noise, corrupt checksums, cut-off frames, silence, an unplugged cable mid-transfer).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import numpy as np

from ..pty_emulator import PtyEmulator
from .models import SensorModel, get_model
from .protocol import (
    BAUD_UNIT,
    DEFAULT_ADDRESS,
    PACKET_SIZES_BYTES,
    VALID_BAUD_MULTIPLIERS,
    ConfirmationCode,
    Frame,
    FrameError,
    FrameParser,
    Instruction,
    PacketId,
    ProductInfo,
    SysParam,
    build_ack,
    build_data_frames,
    encode_product_info,
    encode_system_parameters,
    pack_image,
)
from .synthetic import synthetic_fingerprint

ImageSource = Callable[[int, int, str, int], np.ndarray]  # (width, height, quality, seed) -> uint8 HxW

FAULT_KINDS = ("noise", "bad_checksum", "truncate", "silence", "unplug")
QUALITIES = ("good", "partial", "smudged")
_TRANSFER_FAULTS = ("truncate", "unplug")  # by default these strike in the middle of the next data transfer
_SYSTEM_ID = 0x0009
_STATUS_PWD_VERIFIED = 1 << 2
_STATUS_IMAGE_VALID = 1 << 3
_Code = ConfirmationCode


def _default_image_source(width: int, height: int, quality: str, seed: int) -> np.ndarray:
    return synthetic_fingerprint(width, height, quality=quality, seed=seed)


class FakeR30x(PtyEmulator):
    """Emulated module. Test helpers: ``place_finger``, ``lift_finger``, ``inject_fault``, ``reset``."""

    def __init__(self, model: str = "R307", *, baudrate: int = 57600, password: int = 0, pace: bool = True,
                 address: int = DEFAULT_ADDRESS, image_source: ImageSource | None = None,
                 link_dir: str | None = None) -> None:
        super().__init__(baudrate, name="jemput-fingerprint", pace=pace, link_dir=link_dir)
        self.model: SensorModel = get_model(model)
        self.address = address
        self.password = password
        self.image_source: ImageSource = image_source or _default_image_source
        self._initial_baudrate = baudrate
        self._state_lock = threading.RLock()
        self._parser = FrameParser()
        self._faults: list[tuple[str, str]] = []  # (kind, "reply" | "transfer"), oldest first
        self._rng = np.random.default_rng(0)
        self.led_log: list[tuple[int, int, int, int]] = []  # every AuraLedConfig: (mode, speed, color, cycles)
        self.commands_seen: list[int] = []
        self.garbled_bytes = 0  # bytes that arrived at the wrong line rate
        self.reset()

    # test helpers -----------------------------------------------------------------------------------------------
    @property
    def image_size(self) -> tuple[int, int]:
        return (self.model.image_width, self.model.image_height)

    @property
    def led(self) -> tuple[int, int, int, int] | None:
        return self.led_log[-1] if self.led_log else None

    def place_finger(self, quality: str = "good", seed: int | None = None) -> None:
        if quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
        with self._state_lock:
            self._finger = (quality, seed)

    def lift_finger(self) -> None:
        with self._state_lock:
            self._finger = None

    def inject_fault(self, kind: str, *, during: str | None = None) -> None:
        """Arm a one-shot fault. ``during="reply"`` hits the next reply, ``"transfer"`` the next data transfer
        (the default for "truncate" and "unplug", which then strike halfway through the data packets)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {FAULT_KINDS}, got {kind!r}")
        during = during or ("transfer" if kind in _TRANSFER_FAULTS else "reply")
        if during not in ("reply", "transfer"):
            raise ValueError(f"during must be 'reply' or 'transfer', got {during!r}")
        with self._state_lock:
            self._faults.append((kind, during))

    def reset(self) -> None:
        """Back to factory state: initial baud rate, 128-byte packets, no finger, empty buffers, no faults."""
        with self._state_lock:
            self.baudrate = self._initial_baudrate
            self.packet_size_bytes = self.model.default_packet_size_bytes
            self.security_level = 3
            self._finger: tuple[str, int | None] | None = None
            self._faults.clear()
            self._captures = 0
            self._power_on_state()

    def replug(self) -> None:
        # The base class's re-entrant plug lock keeps a fault's unplug (reader thread) and a test's replug apart.
        with self._plug_lock:
            with self._state_lock:
                self._power_on_state()
            super().replug()

    def _power_on_state(self) -> None:
        """RAM is lost on power-up; baud rate, packet size and password live in flash and survive."""
        self._verified = False
        self._image: np.ndarray | None = None
        self._image_id: tuple[str, int] | None = None
        self._char_buffers: dict[int, tuple[bytes, int]] = {}  # buffer id -> (template, finger seed)
        self._parser.reset()

    # receiving --------------------------------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        line = self.line_baudrate()
        if line is not None and line != self.baudrate:
            self.garbled_bytes += len(data)  # framing errors at the wrong rate: nothing decodable arrives
            self._parser.reset()
            return
        for item in self._parser.feed(data):
            if isinstance(item, FrameError):
                self._reply(build_ack(_Code.PACKET_RECEIVE_ERROR, address=self.address))
            elif item.address == self.address and item.pid == PacketId.COMMAND and item.payload:
                self._handle(item)

    def _handle(self, frame: Frame) -> None:
        instruction, params = frame.code, frame.params
        self.commands_seen.append(instruction)
        with self._state_lock:  # decide under the lock, send outside it: helpers must not wait for a transfer
            self._outgoing: list[tuple[bytes, list[bytes]]] = []
            self._new_baudrate: int | None = None
            if self.password and not self._verified and instruction not in (Instruction.VFY_PWD,
                                                                            Instruction.HANDSHAKE):
                self._answer(_Code.PASSWORD_NOT_VERIFIED)
            elif (handler := self._HANDLERS.get(instruction)) is None:
                self._answer(_Code.UNSUPPORTED_COMMAND)
            else:
                handler(self, params)
            outgoing, new_baudrate = self._outgoing, self._new_baudrate
        for ack, data_frames in outgoing:
            self._reply(ack, data_frames)
        if new_baudrate is not None:
            self.baudrate = new_baudrate  # acknowledged at the old rate, then the UART switches

    # command handlers (called with the state lock held) -----------------------------------------------------------
    def _gen_img(self, _params: bytes) -> None:
        if self._finger is None:
            self._answer(_Code.NO_FINGER)
            return
        quality, seed = self._finger
        seed = self._captures if seed is None else seed
        self._captures += 1
        width, height = self.image_size
        image = np.asarray(self.image_source(width, height, quality, seed), dtype=np.uint8)
        if image.shape != (height, width):
            raise ValueError(f"image source gave shape {image.shape}, the {self.model.name} needs {(height, width)}")
        self._image, self._image_id = image, (quality, seed)
        self._answer(_Code.OK)

    def _img2tz(self, params: bytes) -> None:
        if self._image is None or self._image_id is None:
            self._answer(_Code.NO_VALID_IMAGE)
            return
        quality, seed = self._image_id
        if quality == "smudged":
            self._answer(_Code.IMAGE_TOO_MESSY)
        elif quality == "partial":
            self._answer(_Code.TOO_FEW_FEATURES)
        else:
            digest = hashlib.shake_256(self._image.tobytes()).digest(self.model.template_bytes)
            self._char_buffers[params[0] if params else 1] = (digest, seed)
            self._answer(_Code.OK)

    def _up_image(self, _params: bytes) -> None:
        if self._image is None:
            self._answer(_Code.IMAGE_UPLOAD_FAILED)
            return
        self._answer_with_data(pack_image(self._image))

    def _up_char(self, params: bytes) -> None:
        entry = self._char_buffers.get(params[0] if params else 1)
        if entry is None:
            self._answer(_Code.TEMPLATE_UPLOAD_FAILED)
            return
        self._answer_with_data(entry[0])

    def _reg_model(self, _params: bytes) -> None:
        one, two = self._char_buffers.get(1), self._char_buffers.get(2)
        if one is None or two is None or one[1] != two[1]:
            self._answer(_Code.COMBINE_FAILED)
            return
        self._char_buffers[2] = one
        self._answer(_Code.OK)

    def _set_sys_para(self, params: bytes) -> None:
        if len(params) < 2:
            self._answer(_Code.PACKET_RECEIVE_ERROR)
            return
        register, value = params[0], params[1]
        if register == SysParam.BAUD:
            if value not in VALID_BAUD_MULTIPLIERS:
                self._answer(_Code.BAD_REGISTER_VALUE)
                return
            self._answer(_Code.OK)
            self._new_baudrate = value * BAUD_UNIT
        elif register == SysParam.SECURITY_LEVEL and 1 <= value <= 5:
            self.security_level = value
            self._answer(_Code.OK)
        elif register == SysParam.PACKET_SIZE and value < len(PACKET_SIZES_BYTES):
            self.packet_size_bytes = PACKET_SIZES_BYTES[value]
            self._answer(_Code.OK)
        elif register in (SysParam.SECURITY_LEVEL, SysParam.PACKET_SIZE):
            self._answer(_Code.BAD_REGISTER_VALUE)
        else:
            self._answer(_Code.INVALID_REGISTER)

    def _read_sys_para(self, _params: bytes) -> None:
        status = (_STATUS_PWD_VERIFIED if self._verified else 0) | (_STATUS_IMAGE_VALID if self._image is not None
                                                                    else 0)
        self._answer(_Code.OK, encode_system_parameters(
            status=status, system_id=_SYSTEM_ID, library_size=self.model.library_size,
            security_level=self.security_level, address=self.address, packet_size_bytes=self.packet_size_bytes,
            baudrate=self.baudrate))

    def _vfy_pwd(self, params: bytes) -> None:
        if len(params) < 4:
            self._answer(_Code.PACKET_RECEIVE_ERROR)
        elif int.from_bytes(params[:4], "big") == self.password:
            self._verified = True
            self._answer(_Code.OK)
        else:
            self._answer(_Code.WRONG_PASSWORD)

    def _read_prod_info(self, _params: bytes) -> None:
        if not self.model.has_product_info:
            self._answer(_Code.UNSUPPORTED_COMMAND)
            return
        m = self.model
        info = ProductInfo(m.name, "B001", "00000042", "1.0", "FPC1021", m.image_width, m.image_height,
                           m.template_bytes, m.library_size)
        self._answer(_Code.OK, encode_product_info(info))

    def _aura(self, params: bytes) -> None:
        if not self.model.has_aura_led:
            self._answer(_Code.UNSUPPORTED_COMMAND)
        elif len(params) < 4 or not 1 <= params[0] <= 6 or not 1 <= params[2] <= 7:
            self._answer(_Code.PACKET_RECEIVE_ERROR)
        else:
            self.led_log.append((params[0], params[1], params[2], params[3]))
            self._answer(_Code.OK)

    def _template_num(self, _params: bytes) -> None:
        self._answer(_Code.OK, b"\x00\x00")

    def _handshake(self, _params: bytes) -> None:
        self._answer(_Code.OK)

    _HANDLERS: dict[int, Callable[[FakeR30x, bytes], None]] = {
        Instruction.GEN_IMG: _gen_img, Instruction.IMG2TZ: _img2tz, Instruction.UP_IMAGE: _up_image,
        Instruction.UP_CHAR: _up_char, Instruction.REG_MODEL: _reg_model, Instruction.SET_SYS_PARA: _set_sys_para,
        Instruction.READ_SYS_PARA: _read_sys_para, Instruction.VFY_PWD: _vfy_pwd,
        Instruction.READ_PROD_INFO: _read_prod_info, Instruction.AURA_LED_CONFIG: _aura,
        Instruction.TEMPLATE_NUM: _template_num, Instruction.HANDSHAKE: _handshake,
    }

    # replying, with faults ------------------------------------------------------------------------------------------
    def _answer(self, code: int, params: bytes = b"") -> None:
        self._outgoing.append((build_ack(code, params, self.address), []))

    def _answer_with_data(self, data: bytes) -> None:
        self._outgoing.append((build_ack(_Code.OK, address=self.address),
                               build_data_frames(data, self.packet_size_bytes, self.address)))

    def _take_fault(self, has_data: bool) -> str | None:
        with self._state_lock:
            for i, (kind, during) in enumerate(self._faults):
                if during == "reply" or has_data:
                    del self._faults[i]
                    return kind
        return None

    def _reply(self, ack: bytes, data_frames: list[bytes] | None = None) -> None:
        frames = [ack, *(data_frames or [])]
        fault = self._take_fault(bool(data_frames))
        if fault is None:
            self.send(b"".join(frames))
            return
        if fault == "silence":
            return
        if fault == "noise":
            self.send(self._rng.integers(0, 256, int(self._rng.integers(8, 48)), dtype=np.uint8).tobytes())
            self.send(b"".join(frames))
            return
        victim = len(frames) // 2  # the ack when there is no data, else a data packet in the middle
        if fault == "bad_checksum":
            frames[victim] = frames[victim][:-1] + bytes([frames[victim][-1] ^ 0x5A])
            self.send(b"".join(frames))
        elif fault == "truncate":
            self.send(b"".join(frames[:victim]) + frames[victim][:len(frames[victim]) // 2])
        elif fault == "unplug":
            self.send(b"".join(frames[:victim]))
            self.unplug()
