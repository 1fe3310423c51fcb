"""EscPosPrinter: a 58 mm ESC/POS thermal printer on a serial port (USB adapter or TTL), through pyserial.

The driver asks the printer's real-time status (``DLE EOT``) before and after each document, so an empty roll or
an open cover becomes a typed error (``PaperOut``, ``CoverOpen``) instead of a slip that silently never came out;
an unplugged printer is ``DeviceDisconnected`` and the port is re-opened on the next call once it is back.
"""

from __future__ import annotations

import os
import threading
import time

import serial

from ..base import Device, DeviceStatus, Health
from ..errors import DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError
from .errors import CoverOpen, PaperOut, PrinterOffline
from .protocol import PrinterState, StatusKind, decode_status, is_status_byte, status_query

_READ_SLICE_S = 0.05


class EscPosPrinter(Device):
    """One printer on one port; one document at a time (thread-safe)."""

    def __init__(self, port: str, baudrate: int = 9600, *, timeout_s: float = 1.0) -> None:
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._serial: serial.SerialBase | None = None
        self._lock = threading.RLock()

    # public API -------------------------------------------------------------------------------------------------
    def state(self) -> PrinterState:
        """Ask ``DLE EOT 1, 2, 4`` and decode the three answers."""
        with self._lock:
            answers = [self._ask(kind) for kind in (StatusKind.PRINTER, StatusKind.OFFLINE_CAUSE,
                                                    StatusKind.PAPER_SENSOR)]
        return decode_status(*answers)

    def check_ready(self) -> PrinterState:
        """The state, or the typed error that says why nothing would print."""
        state = self.state()
        if state.cover_open:
            raise CoverOpen("the printer cover is open", port=self.port)
        if state.paper_out:
            raise PaperOut("the printer is out of paper", port=self.port)
        if not state.ready:
            raise PrinterOffline("the printer is offline", port=self.port)
        return state

    def print_document(self, data: bytes) -> None:
        """Send one document (built with ``protocol``). Checks the printer before and after: paper that ran out
        during the slip is ``PaperOut`` too, so the caller offers a reprint."""
        with self._lock:
            self.check_ready()
            ser = self._open()
            try:
                ser.write(data)
                ser.flush()
            except serial.SerialTimeoutException as exc:
                raise DeviceTimeout(f"the printer did not take the data: {exc}", port=self.port,
                                    expected="the line to accept print data") from exc
            except (serial.SerialException, OSError, ValueError) as exc:
                raise self._lost(exc, "printing") from exc
            self.check_ready()

    def status(self) -> DeviceStatus:
        if self.closed:
            return DeviceStatus(Health.ABSENT, "closed")
        try:
            state = self.state()
        except DeviceDisconnected as exc:
            return DeviceStatus(Health.ABSENT, str(exc))
        except DeviceError as exc:
            return DeviceStatus(Health.FAULT, str(exc))
        if state.paper_out:
            return DeviceStatus(Health.FAULT, "paper out")
        if state.cover_open:
            return DeviceStatus(Health.FAULT, "cover open")
        if not state.ready:
            return DeviceStatus(Health.FAULT, "offline")
        return DeviceStatus.ok(self.port)

    # link -------------------------------------------------------------------------------------------------------
    def _open(self) -> serial.SerialBase:
        if self.closed:
            raise DeviceDisconnected("printer was closed", port=self.port)
        if self._serial is not None and self._replaced():
            self._drop()
        if self._serial is None:
            try:
                self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=_READ_SLICE_S,
                                                     write_timeout=max(5.0, self.timeout_s))
            except (serial.SerialException, OSError, ValueError) as exc:
                raise DeviceDisconnected(f"cannot open the printer: {exc}", port=self.port,
                                         expected="a serial port") from exc
        return self._serial

    def _replaced(self) -> bool:
        if "://" in self.port or self._serial is None:
            return False
        try:
            return os.stat(self.port).st_rdev != os.fstat(self._serial.fileno()).st_rdev
        except (OSError, ValueError, serial.SerialException):
            return True

    def _drop(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _lost(self, exc: BaseException, doing: str) -> DeviceDisconnected:
        self._drop()
        return DeviceDisconnected(f"printer disconnected while {doing}: {exc}", port=self.port)

    def _ask(self, kind: StatusKind) -> int:
        """One real-time status byte; bytes that are not status answers (line noise) are skipped."""
        ser = self._open()
        try:
            ser.reset_input_buffer()
            ser.write(status_query(kind))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._lost(exc, "asking its status") from exc
        deadline = time.monotonic() + self.timeout_s
        junk = 0
        while time.monotonic() < deadline:
            try:
                data = ser.read(1)
            except (serial.SerialException, OSError, ValueError) as exc:
                raise self._lost(exc, "reading its status") from exc
            if data and is_status_byte(data[0]):
                return data[0]
            junk += len(data)
        if junk:
            raise ProtocolError(f"{junk} byte(s) that are not a status answer", port=self.port,
                                expected=f"DLE EOT {int(kind)} status")
        raise DeviceTimeout(f"no status answer within {self.timeout_s:g} s", port=self.port,
                            expected=f"DLE EOT {int(kind)} status")

    def _close(self) -> None:
        with self._lock:
            self._drop()
