"""systemd's notify protocol, by hand: one datagram per message to ``$NOTIFY_SOCKET``.

``jemput-station.service`` is ``Type=notify`` with ``WatchdogSec=``: systemd counts the station as started only
on ``READY=1`` (sent once the kiosk answers, so the kiosk unit never opens on an error page), and restarts it when
``WATCHDOG=1`` stops coming for ``WATCHDOG_USEC``. The pings come from the station's main loop and only after it
has checked that the station can still take its store lock, so a deadlocked or hung station goes quiet and is
restarted. The protocol is a few lines (sd_notify(3)): a datagram of ``KEY=value`` lines to a unix socket whose
path is ``$NOTIFY_SOCKET``; a leading ``@`` means the Linux abstract namespace. No libsystemd needed; outside
systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = None
        if raw.startswith("@"):
            self.address = b"\0" + raw[1:].encode()
        elif raw.startswith("/"):
            self.address = raw
        self.watchdog_interval_s: float | None = _watchdog_interval(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send one message; False (logged once per failure) when systemd is not listening."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode("utf-8"), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s", self.address, exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", f"STATUS={status}") if status else self.send("READY=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` (sd_watchdog_enabled(3)); None when the watchdog is off or meant for another
    process (``WATCHDOG_PID`` set to a pid that is not ours)."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2 / 1_000_000
