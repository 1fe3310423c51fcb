"""Serve the office: the Flask app (receiver, dashboard) under cheroot, plus the MQTT ingest when configured.

Why cheroot (CherryPy's WSGI server, pure Python, on PyPI with wheels for every platform): it hands the
application the request body as it arrives on the socket (``wsgi.input`` reads the connection), so a PATCH cut
mid-body still gives the receiver every byte that arrived, and tus resumes from there. waitress, the server before,
reads a whole body into a buffer before the application runs, so a cut PATCH kept nothing and the uploader had to
use small chunks, which cost a round trip each on a village link. cheroot serves each request on a worker thread
of a fixed pool (``[office] threads``), with HTTP/1.1 keep-alive, and writes a streamed response (the dashboard's
server-sent events) chunk by chunk as the application yields it, each stream holding one worker.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

from cheroot import wsgi
from flask import Flask
from sqlalchemy import Engine

from office.config import OfficeConfig
from office.db import open_db
from office.keys import OfficeKeys, load_office_keys
from office.web import attach_ingest, create_office_app, stop_dashboard

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 30
"""A stalled client (no bytes, no close) is given up after this long; what its PATCH delivered is kept."""


class OfficeServer:
    """The office app on cheroot in a thread: ``url``, ``port``, ``app`` and an idempotent ``stop()``."""

    def __init__(self, config: OfficeConfig, engine: Engine, keys: OfficeKeys, *, port: int | None = None) -> None:
        self.app: Flask = create_office_app(config, engine, keys)
        self._server = wsgi.Server(
            (config.office.host, config.office.port if port is None else port),
            self.app,
            numthreads=config.office.threads,
            server_name="jemput-office",
            timeout=SOCKET_TIMEOUT_S,
            shutdown_timeout=2,
        )
        self._server.max_request_body_size = config.max_upload_bytes + 1024 * 1024
        self._server.prepare()            # binds now, so the port is known before start()
        host, self.port = self._server.bind_addr[:2]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._serve, name="office-http", daemon=True)
        self._stopped = False

    def start(self) -> OfficeServer:
        self._thread.start()
        log.info("office receiver at %s", self.url)
        return self

    def _serve(self) -> None:
        try:
            self._server.serve()
        except (OSError, ValueError):  # the listening socket was closed under us during stop()
            pass

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        stop_dashboard(self.app)   # end the dashboard's live streams first: each holds a worker thread
        try:
            self._server.stop()
        except OSError:                # stopping never raises over an already-closed socket
            pass
        if self._thread.ident is not None:
            self._thread.join(timeout=5)


def run_office(config: OfficeConfig, *, stop_event: threading.Event) -> None:
    """Serve until ``stop_event`` is set (the CLI sets it on SIGTERM/SIGINT), then stop everything cleanly."""
    engine = open_db(config.database_url)
    keys = load_office_keys(config.keys_dir)
    server = OfficeServer(config, engine, keys).start()
    print(f"Office receiver: {server.url}/api/v1/uploads", flush=True)
    print(f"Office dashboard: {server.url}/", flush=True)
    ingest: Any = None
    if config.mqtt.host and importlib.util.find_spec("office.ingest") is not None:
        from office.ingest import Ingest

        ingest = Ingest(config, engine)
        ingest.start()
        attach_ingest(server.app, ingest)
    try:
        stop_event.wait()
    finally:
        if ingest is not None:
            ingest.stop()
        server.stop()
        engine.dispose()
