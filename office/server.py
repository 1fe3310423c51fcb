"""Serve the office: the receiver under waitress, plus the MQTT ingest when a broker is configured."""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

from flask import Flask
from sqlalchemy import Engine
from waitress import wasyncore
from waitress.server import create_server

from office.config import OfficeConfig
from office.db import open_db
from office.keys import OfficeKeys, load_office_keys
from office.web import attach_ingest, create_office_app, stop_dashboard

log = logging.getLogger(__name__)


class OfficeServer:
    """The receiver on waitress in a thread: ``url``, ``port``, ``app`` and an idempotent ``stop()``."""

    def __init__(self, config: OfficeConfig, engine: Engine, keys: OfficeKeys, *, port: int | None = None) -> None:
        self.app: Flask = create_office_app(config, engine, keys)
        self._server = create_server(
            self.app,
            host=config.office.host,
            port=config.office.port if port is None else port,
            threads=config.office.threads,
            channel_timeout=60,
            max_request_body_size=config.max_upload_bytes + 1024 * 1024,
            ident="jemput-office",
            clear_untrusted_proxy_headers=True,
        )
        self.port = int(self._server.effective_port)
        self.url = f"http://{self._server.effective_host}:{self.port}"
        self._thread = threading.Thread(target=self._serve, name="office-http", daemon=True)
        self._stopped = False

    def start(self) -> OfficeServer:
        self._thread.start()
        log.info("office receiver at %s", self.url)
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):  # the socket map was closed under us during stop()
            pass

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        stop_dashboard(self.app)   # end the dashboard's live streams first: each holds a worker thread
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        if self._thread.is_alive():
            # Close everything from inside the loop thread so its poll() wakes at once instead of timing out.
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map, ignore_all=True))
            self._thread.join(timeout=5)
        wasyncore.close_all(self._server._map, ignore_all=True)  # stopping never raises over a closed socket


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
