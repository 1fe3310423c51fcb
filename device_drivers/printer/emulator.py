"""FakeEscPosPrinter: a 58 mm ESC/POS printer on the far end of a pseudo-terminal.

It decodes what the real ``EscPosPrinter`` sends (``protocol.EscPosDecoder``) into slips, a slip being what came
out between two cuts, answers ``DLE EOT`` with the real status bytes, and has the faults a station meets: the roll
runs out (now, or after N more lines), the cover is opened, the cable is pulled. While it is not ready it prints
nothing, like the real part. ``render_slip`` draws a slip as the paper would look (``/sim`` shows it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..pty_emulator import PtyEmulator
from .protocol import Cut, EscPosDecoder, Feed, Item, Line, PrinterState, QrCode, Raster, StatusQuery, encode_status


@dataclass
class PrintedSlip:
    """The items printed between two cuts (``cut`` is False while the slip is still coming out)."""

    items: list[Item] = field(default_factory=list)
    cut: bool = False

    @property
    def lines(self) -> list[str]:
        return [i.text for i in self.items if isinstance(i, Line)]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def qr_payloads(self) -> list[str]:
        return [i.payload for i in self.items if isinstance(i, QrCode)]

    @property
    def rasters(self) -> list[Raster]:
        return [i for i in self.items if isinstance(i, Raster)]


class FakeEscPosPrinter(PtyEmulator):
    """Emulated printer. Test helpers: ``run_out_of_paper``, ``load_paper``, ``open_cover``, ``close_cover``,
    ``unplug`` / ``replug``, ``slips`` and ``last_slip``."""

    def __init__(self, *, baudrate: int = 9600, pace: bool = True, link_dir: str | None = None) -> None:
        super().__init__(baudrate, name="jemput-printer", pace=pace, link_dir=link_dir)
        self._decoder = EscPosDecoder()
        self._lock = threading.Lock()
        self.slips: list[PrintedSlip] = []
        self._current = PrintedSlip()
        self.cover_open = False
        self.paper_out = False
        self._lines_left: int | None = None
        self.dropped_items = 0
        self.printed = threading.Condition(self._lock)

    # test helpers -------------------------------------------------------------------------------------------------
    def run_out_of_paper(self, after_lines: int = 0) -> None:
        """The roll ends now, or after ``after_lines`` more printed lines (mid-slip)."""
        with self._lock:
            if after_lines <= 0:
                self.paper_out, self._lines_left = True, None
            else:
                self._lines_left = after_lines

    def load_paper(self) -> None:
        with self._lock:
            self.paper_out, self._lines_left = False, None

    def open_cover(self) -> None:
        self.cover_open = True

    def close_cover(self) -> None:
        self.cover_open = False

    def reset(self) -> None:
        with self._lock:
            self.slips.clear()
            self._current = PrintedSlip()
            self.cover_open = self.paper_out = False
            self._lines_left = None
            self._decoder = EscPosDecoder()

    @property
    def last_slip(self) -> PrintedSlip | None:
        """The last finished (cut) slip."""
        with self._lock:
            return self.slips[-1] if self.slips else None

    def wait_for_slips(self, count: int, timeout_s: float = 5.0) -> bool:
        with self.printed:
            return self.printed.wait_for(lambda: len(self.slips) >= count, timeout=timeout_s)

    def state(self) -> PrinterState:
        return PrinterState(cover_open=self.cover_open, paper_out=self.paper_out)

    # receiving ----------------------------------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        replies = bytearray()
        with self._lock:
            for item in self._decoder.feed(data):
                if isinstance(item, StatusQuery):
                    replies.append(encode_status(item.kind, self.state()))
                else:
                    self._print(item)
        if replies:
            self.send(bytes(replies))

    def _print(self, item: Item) -> None:
        if self.cover_open or self.paper_out:
            self.dropped_items += 1
            return
        if isinstance(item, Cut):
            self._current.cut = True
            self.slips.append(self._current)
            self._current = PrintedSlip()
            self.printed.notify_all()
            return
        self._current.items.append(item)
        if isinstance(item, Line | Feed) and self._lines_left is not None:
            self._lines_left -= 1
            if self._lines_left <= 0:
                self.paper_out, self._lines_left = True, None
