"""A TCP proxy that behaves like a village's mobile link: limited bandwidth, a round-trip time, dropped
connections, stalls.

Real sockets on loopback; the station talks to the proxy, the proxy to the office. Bandwidth is paced per direction
(shared by every connection, like one radio); with ``rtt_s`` every byte arrives half a round trip after it was
paced out, and a new connection waits one round trip before anything flows (the TCP handshake). Drops cut a
connection after a number of upstream bytes (fixed, or a schedule of link-time intervals), and a stall stops
forwarding without closing anything (the case only timeouts can rescue). Counts payload bytes both ways.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Iterator


class Pacer:
    """Paces bytes to ``rate_bps`` bits/s (``None`` = unlimited), allowing a small burst."""

    def __init__(self, rate_bps: float | None, burst_s: float = 0.05) -> None:
        self.rate_bps = rate_bps
        self._burst_s = burst_s
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def take(self, n_bytes: int) -> None:
        if not self.rate_bps:
            return
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now - self._burst_s) + n_bytes * 8 / self.rate_bps
            wait = self._next - now
        if wait > 0:
            time.sleep(wait)


class ThrottlingProxy:
    def __init__(self, target_port: int, *, rate_bps: float | None = None, piece_bytes: int = 1024,
                 rtt_s: float = 0.0, drop_schedule: Iterator[int] | None = None) -> None:
        self.target = ("127.0.0.1", target_port)
        self.rtt_s = rtt_s
        self._drop_schedule = drop_schedule
        """Upstream byte counts between cuts, one per cut (e.g. seeded link-time intervals); overrides
        ``drop_every_bytes`` while it lasts."""
        self.up = Pacer(rate_bps)
        self.down = Pacer(rate_bps)
        self.piece_bytes = piece_bytes
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self.drops = 0
        self.drop_every_bytes: int | None = next(drop_schedule) if drop_schedule is not None else None
        """Cut the connection that carries the N-th upstream byte since the last cut (None = never)."""
        self._since_drop = 0
        self.stalled = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def set_rate(self, rate_bps: float | None) -> None:
        self.up.rate_bps = self.down.rate_bps = rate_bps

    def cut_all(self) -> None:
        """Drop every open connection now (a mid-upload link loss)."""
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            _close(s)

    def close(self) -> None:
        self._closed.set()
        self.cut_all()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self.connections += 1
                self._socks.update((client, server))
            opened_at = time.monotonic() + self.rtt_s          # the handshake's round trip
            for src, dst, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, upstream, opened_at), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool, opened_at: float) -> None:
        pacer = self.up if upstream else self.down
        line: queue.Queue[tuple[float, bytes] | None] | None = None
        if self.rtt_s:
            line = queue.Queue()
            threading.Thread(target=self._deliver, args=(line, src, dst), daemon=True).start()
        try:
            src.settimeout(0.2)
            time.sleep(max(0.0, opened_at - time.monotonic()))
            while not self._closed.is_set():
                if self.stalled.is_set():
                    time.sleep(0.05)
                    continue
                try:
                    data = src.recv(self.piece_bytes)
                except TimeoutError:
                    continue
                if not data:
                    break
                pacer.take(len(data))
                if upstream and self._should_drop(len(data)):
                    self._close_pair(src, dst)     # a cut: what is still in flight is lost
                    break
                if line is not None:
                    line.put((time.monotonic() + self.rtt_s / 2, data))
                else:
                    dst.sendall(data)
                with self._lock:
                    if upstream:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
        except OSError:
            pass
        finally:
            if line is not None:
                line.put(None)          # the delay line closes both ends once it has delivered what it holds
            else:
                self._close_pair(src, dst)

    def _deliver(self, line: queue.Queue[tuple[float, bytes] | None], src: socket.socket,
                 dst: socket.socket) -> None:
        """Half a round trip after pacing, hand the bytes on (a cut closes the sockets and loses what is queued)."""
        try:
            while (item := line.get()) is not None:
                deliver_at, data = item
                time.sleep(max(0.0, deliver_at - time.monotonic()))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close_pair(src, dst)

    def _close_pair(self, src: socket.socket, dst: socket.socket) -> None:
        for s in (src, dst):
            _close(s)
            with self._lock:
                self._socks.discard(s)

    def _should_drop(self, n: int) -> bool:
        with self._lock:
            if self.drop_every_bytes is None:
                return False
            self._since_drop += n
            if self._since_drop < self.drop_every_bytes:
                return False
            self._since_drop = 0
            self.drops += 1
            if self._drop_schedule is not None:
                self.drop_every_bytes = next(self._drop_schedule, None)
            return True


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
