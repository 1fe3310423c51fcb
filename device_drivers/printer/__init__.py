"""58 mm ESC/POS receipt printer: ``protocol`` (bytes), ``EscPosPrinter`` (driver), ``FakeEscPosPrinter``
(emulator on a pty), ``render`` (what the paper looks like)."""

from .driver import EscPosPrinter
from .emulator import FakeEscPosPrinter, PrintedSlip
from .errors import CoverOpen, PaperOut, PrinterError, PrinterOffline

__all__ = ["CoverOpen", "EscPosPrinter", "FakeEscPosPrinter", "PaperOut", "PrintedSlip", "PrinterError",
           "PrinterOffline"]
