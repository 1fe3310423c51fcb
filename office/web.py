"""The office Flask app: the packet receiver (and, later, the dashboard), built from services passed in."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from sqlalchemy import Engine

from office.config import OfficeConfig
from office.keys import OfficeKeys
from office.receiver import init_receiver


def create_office_app(config: OfficeConfig, engine: Engine, keys: OfficeKeys) -> Flask:
    app = Flask("office")
    # Werkzeug refuses larger bodies before any view reads them; the receiver checks Upload-Length itself.
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes + 64 * 1024
    app.extensions["jemput_office"] = {"config": config, "engine": engine, "keys": keys}
    init_receiver(app, config, engine, keys)

    @app.get("/api/v1/health")
    def health() -> Response:
        """Liveness probe for the reverse proxy and the demo."""
        return jsonify(ok=True, district=config.office.district)

    return app
