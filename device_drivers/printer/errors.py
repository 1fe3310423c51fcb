"""The printer's typed errors: what the kiosk tells the operator ("kertas habis", "tutup printer terbuka")."""

from __future__ import annotations

from ..errors import DeviceError


class PrinterError(DeviceError):
    """Root of the printer's own refusals (the link failing is ``DeviceDisconnected`` / ``DeviceTimeout``)."""


class PaperOut(PrinterError):
    """The roll is empty (or ran out during the slip: it must be printed again)."""


class CoverOpen(PrinterError):
    """The paper cover is open; the printer will not print until it is closed."""


class PrinterOffline(PrinterError):
    """The printer reports itself offline for another reason (an error, the feed button held)."""
