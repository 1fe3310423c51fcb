"""Typed device errors.

Drivers never let a bare ``SerialException``, ``OSError`` or ``IndexError`` escape: every failure becomes one of
these, carrying the port (or bus) and what the driver was waiting for, so the station can tell a resident
"sensor unplugged" rather than print a traceback. Each is also a builtin subclass where one fits.
"""

from __future__ import annotations


class DeviceError(Exception):
    """Root of every device failure."""

    def __init__(self, message: str, *, port: str | None = None, expected: str | None = None) -> None:
        self.port = port
        self.expected = expected
        details = []
        if port:
            details.append(f"port {port}")
        if expected:
            details.append(f"expected {expected}")
        super().__init__(message + (f" ({', '.join(details)})" if details else ""))


class DeviceTimeout(DeviceError, TimeoutError):
    """The device did not answer in time."""


class DeviceDisconnected(DeviceError, ConnectionError):
    """The device went away (unplugged, port closed, bus error)."""


class ProtocolError(DeviceError, ValueError):
    """The device sent bytes that do not follow its protocol (bad checksum, bad frame, unknown code)."""
