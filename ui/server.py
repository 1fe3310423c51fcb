"""Serve the kiosk with waitress in a background thread (the ``jemput.frontends`` entry point).

Streams (SSE, MJPEG) each hold a worker thread, so the pool is sized for a kiosk plus a few operator tablets.
``stop()`` ends the streams first (they poll the stop flag), then the server, so ``jemput station run`` exits
promptly on SIGTERM.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from ui import create_app
from ui.defences import simulator_url

log = logging.getLogger(__name__)
THREADS = 24


class KioskServer:
    """A running kiosk: ``url``, ``port``, ``app`` and an idempotent ``stop()``."""

    def __init__(self, station: Any, *, host: str | None = None, port: int | None = None) -> None:
        config = station.config
        self.app = create_app(station)
        self._server = create_server(
            self.app,
            host=host or config.ui.host,
            port=config.ui.port if port is None else port,
            threads=THREADS,
            channel_timeout=60,
            ident="jemput",
            clear_untrusted_proxy_headers=True,
        )
        self.host = self._server.effective_host
        self.port = int(self._server.effective_port)
        self.url = f"http://{self.host}:{self.port}"
        self.sim_url = simulator_url(self.app, self.url)
        """The simulator panel with its simulate-only token (None without ``--simulate``)."""
        self._thread = threading.Thread(target=self._serve, name="kiosk-http", daemon=True)
        self._stopped = False

    def start(self) -> KioskServer:
        self._thread.start()
        log.info("kiosk UI at %s", self.url)
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):  # the map was closed under us during stop()
            pass

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        ctx = self.app.extensions["jemput"]
        ctx.stopping.set()
        ctx.capture.stop()
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=3)
        self._server.close()
        wasyncore.close_all(self._server._map, ignore_all=True)  # stopping never raises over a closed socket
        self._thread.join(timeout=5)


def start_kiosk(station: Any) -> KioskServer:
    """Entry point for ``jemput station run``: serve the kiosk on ``config.ui.host:port``.

    With ``--simulate`` and an empty store, the demo operator and roster are added first and printed, so the
    simulated kiosk can be tried at once (``station.demo_data``; does nothing when operators exist).
    """
    if getattr(station, "simulate", False):
        from station.demo_data import describe, seed_demo

        with station.db_lock:
            demo = seed_demo(station.conn, station.config.station.district)
        if demo is not None:
            print(describe(demo), flush=True)
    server = KioskServer(station).start()
    print(f"Kiosk: {server.url}", flush=True)
    if server.sim_url:
        print(f"Simulator (no log-in needed with this link): {server.sim_url}", flush=True)
    return server
