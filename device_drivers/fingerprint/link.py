"""The serial link under ``R30xSensor``: command frames out, acks and data packets in, the port's life cycle.

Split from ``driver`` so the command vocabulary (what to ask the sensor) and the link discipline (how a serial
line goes wrong: a port that vanished or came back as a new tty, a reply cut short, the tail of an aborted
transfer still on the wire) can each be read on their own. ``R30xLink`` is a mixin: ``R30xSensor`` owns the state
it uses (set in its ``__init__``) and holds ``_lock`` around every call.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable

import serial

from ..errors import DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError
from .models import SensorModel
from .protocol import Frame, FrameError, FrameParser, Instruction, PacketId, build_command, error_for_code

_READ_SLICE_S = 0.05  # longest single blocking read; deadlines are kept by the loops around it
_MAX_DRAIN_S = 15.0  # an aborted 256-byte-packet image at 9600 baud still fits
_PROBE_S = 0.25  # a password check's round trip at any rate, with room to spare
SEARCH_BAUDRATES = (57600, 115200, 9600, 19200, 38400)
"""The order rates are tried in: factory default, the station's fast rate, then the others."""


class R30xLink:
    """Frame exchanges and port handling for one R30x module (mixed into ``R30xSensor``)."""

    port: str
    baudrate: int
    address: int
    password: int
    timeout_s: float
    _serial: serial.SerialBase | None
    _parser: FrameParser
    _backlog: collections.deque[Frame | FrameError]
    _lock: threading.RLock
    _stale: bool
    _last_error: str
    _detected: SensorModel | None
    _fresh: bool = False

    def _command(self, instruction: int, params: bytes = b"", *, expected: str,
                 timeout_s: float | None = None) -> Frame:
        with self._lock:
            return self._exchange_checked(instruction, params, expected=expected, timeout_s=timeout_s)

    def _transfer(self, instruction: int, params: bytes, *, expected: str,
                  on_bytes: Callable[[int], None] | None = None) -> bytes:
        """A command whose OK ack is followed by data packets; returns their payloads joined.
        ``on_bytes(total so far)`` is called after each data packet."""
        self._exchange_checked(instruction, params, expected=expected)
        try:
            return self._read_data(expected, on_bytes)
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
        deadline_s = timeout_s or self.timeout_s
        try:
            ack = self._await_ack(time.monotonic() + deadline_s, expected)
        except DeviceTimeout:
            if not (self._fresh and self._find_baudrate()):
                self._stale = True
                raise
            self._write(frame)  # found at another rate: ask again there
            try:
                ack = self._await_ack(time.monotonic() + deadline_s, expected)
            except DeviceError:
                self._stale = True
                raise
        except DeviceError:
            self._stale = True
            raise
        self._fresh = False
        return ack

    def _find_baudrate(self) -> bool:
        """A fresh port got no answer: the part may be at another rate (it keeps a rate set earlier in flash,
        across power cycles, while this driver started at the configured one). Try each rate with a password
        check; on an answer, stay at that rate."""
        self._fresh = False
        ser = self._serial
        if ser is None:
            return False
        original = self.baudrate
        for rate in [r for r in SEARCH_BAUDRATES if r != original]:
            try:
                ser.baudrate = rate
            except (serial.SerialException, OSError, ValueError) as exc:
                raise self._lost(exc, "searching its baud rate") from exc
            # Two answers in a row: a late reply to something sent at the old rate cannot pass for the part.
            if self._probe(rate) and self._probe(rate):
                self.baudrate = rate
                return True
        try:
            ser.baudrate = original
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._lost(exc, "searching its baud rate") from exc
        self._reset_reader()
        return False

    def _probe(self, rate: int) -> bool:
        """One password check at the line's current rate, after the line has gone quiet; True on any ack."""
        self._drain_quietly(max(0.05, 40 * 10 / rate))
        try:
            self._serial.write(build_command(Instruction.VFY_PWD, self.password.to_bytes(4, "big"), self.address))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._lost(exc, "searching its baud rate") from exc
        deadline = time.monotonic() + max(_PROBE_S, 40 * 10 / rate)
        while (item := self._next_item(deadline)) is not None:
            if isinstance(item, Frame) and item.pid == PacketId.ACK:
                self._reset_reader()
                return True
        self._reset_reader()
        return False

    def _drain_quietly(self, quiet_s: float) -> None:
        """Drop whatever is still arriving until the line has been quiet for ``quiet_s`` (at most a second)."""
        start = last = time.monotonic()
        while (now := time.monotonic()) - last < quiet_s and now - start < 1.0:
            if self._read_chunk():
                last = time.monotonic()
        self._reset_reader()

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
        self._fresh = True  # no answer yet on this port: a timeout may mean another baud rate
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

    def _read_data(self, expected: str, on_bytes: Callable[[int], None] | None = None) -> bytes:
        """Data packets until the end-of-data packet; each must arrive within the timeout of the previous one."""
        chunks: list[bytes] = []
        received = 0
        while (item := self._next_item(time.monotonic() + self.timeout_s)) is not None:
            if isinstance(item, FrameError):
                raise ProtocolError(f"damaged data packet after {len(chunks)} good ones: {item.reason}",
                                    port=self.port, expected=expected)
            if item.pid not in (PacketId.DATA, PacketId.END_DATA):
                raise ProtocolError(f"packet id 0x{item.pid:02X} inside a data transfer", port=self.port,
                                    expected=expected)
            chunks.append(item.payload)
            received += len(item.payload)
            if on_bytes is not None:
                on_bytes(received)
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
