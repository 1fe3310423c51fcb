"""Base for serial-device emulators that sit on the far end of a pseudo-terminal.

The real driver opens ``emulator.port`` with pyserial exactly as it would open ``/dev/jemput-fingerprint``; the
emulator owns the pty master, answers in the device's own bytes and paces what it writes at the line rate
(10 bits per byte for 8N1/8O1), so timing in tests and benchmarks is realistic. ``port`` is a stable symlink
to the current pty, like a udev name: ``unplug()`` closes the pty (the driver sees the device vanish) and
``replug()`` opens a new one behind the same name, as a re-enumerated USB adapter would.
"""

from __future__ import annotations

import os
import select
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

BITS_PER_BYTE = 10  # start bit + 8 data bits + stop bit (parity adds one; callers may pass bits_per_byte=11)


class PtyEmulator:
    """Owns a pty master; subclasses implement ``on_bytes(data)`` and call ``send(data)``."""

    def __init__(self, baudrate: int, *, name: str = "jemput-device", pace: bool = True,
                 bits_per_byte: int = BITS_PER_BYTE, link_dir: str | Path | None = None) -> None:
        self.baudrate = baudrate
        self.pace = pace
        self.bits_per_byte = bits_per_byte
        self._link_dir = Path(link_dir) if link_dir else Path(tempfile.mkdtemp(prefix="jemput-pty-"))
        self.port = str(self._link_dir / name)
        self._master: int | None = None
        self._slave: int | None = None
        self._write_lock = threading.Lock()
        self._plug_lock = threading.RLock()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self.bytes_sent = 0

    # lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> PtyEmulator:
        self._open_pty()
        return self

    def close(self) -> None:
        self._stop.set()
        with self._plug_lock:
            self._close_pty()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        try:
            os.unlink(self.port)
        except FileNotFoundError:
            pass

    def __enter__(self) -> PtyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def unplug(self) -> None:
        """Make the device vanish: the driver's next read or write fails, and the port name disappears."""
        with self._plug_lock:
            slave = self._slave
            old_target = os.ttyname(slave) if slave is not None else None
            self._close_pty()
            self._remove_link(old_target)

    def replug(self) -> None:
        """Bring the device back behind the same port name (a fresh pty, as after USB re-enumeration)."""
        with self._plug_lock:
            if self._master is None:
                self._open_pty()

    def _remove_link(self, target: str | None) -> None:
        """Remove the port link, but only if it still points at ``target`` (a replug may have re-pointed it)."""
        try:
            if target is None or os.readlink(self.port) == target:
                os.unlink(self.port)
        except (FileNotFoundError, OSError):
            pass

    # I/O ------------------------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Write bytes to the driver, paced at the current line rate."""
        with self._write_lock:
            master = self._master
            if master is None:
                return
            chunk = max(1, self.baudrate // (self.bits_per_byte * 200))  # ~5 ms worth of bytes per write
            start = time.monotonic()
            sent = 0
            for i in range(0, len(data), chunk):
                piece = data[i:i + chunk]
                try:
                    os.write(master, piece)
                except OSError:
                    return
                sent += len(piece)
                self.bytes_sent += len(piece)
                if self.pace:
                    due = start + sent * self.bits_per_byte / self.baudrate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)

    def on_bytes(self, data: bytes) -> None:
        """Called from the reader thread with bytes the driver wrote."""
        raise NotImplementedError

    def line_baudrate(self) -> int | None:
        """The baud rate the driver set on its end of the pty (termios is shared by both ends on Linux)."""
        fd = self._slave
        if fd is None:
            return None
        try:
            attrs = termios.tcgetattr(fd)
        except termios.error:
            return None
        speed = attrs[5]
        for name in dir(termios):
            if name.startswith("B") and name[1:].isdigit() and getattr(termios, name) == speed:
                return int(name[1:])
        return None

    # internals ------------------------------------------------------------------------------------------
    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        slave_path = os.ttyname(slave)
        tmp_link = self.port + ".new"
        try:
            os.unlink(tmp_link)
        except FileNotFoundError:
            pass
        os.symlink(slave_path, tmp_link)
        os.replace(tmp_link, self.port)
        self._stop.clear()
        self._reader = threading.Thread(target=self._read_loop, args=(master,), daemon=True,
                                        name=f"pty-emulator-{Path(self.port).name}")
        self._reader.start()

    def _close_pty(self) -> None:
        master, slave = self._master, self._slave
        self._master = self._slave = None
        for fd in (master, slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _read_loop(self, master: int) -> None:
        while not self._stop.is_set() and self._master == master:
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if data:
                self.on_bytes(data)
