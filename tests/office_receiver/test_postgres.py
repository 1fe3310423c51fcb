"""The office database is portable: its DDL and queries compile for PostgreSQL, and the receiver's main flows run
against a real PostgreSQL server (a throw-away cluster from tests/pg_server.py, or the server named in
JEMPUT_TEST_POSTGRES_URL)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from office import db
from station import packets

from .conftest import running_office


@pytest.fixture(scope="module")
def pg_url():
    url = os.environ.get("JEMPUT_TEST_POSTGRES_URL", "")
    if url:
        yield url
        return
    from tests.pg_server import postgres_server

    with postgres_server() as started:
        yield started


def test_schema_compiles_for_postgresql():
    dialect = postgresql.dialect()
    for table in (db.stations, db.packets, db.uploads, db.quarantine):
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert "BIGINT" in ddl or table is db.stations or table is db.quarantine
        for index in table.indexes:
            str(CreateIndex(index).compile(dialect=dialect))
    boolean = str(sa.select(db.stations).where(db.stations.c.active == sa.true()).compile(dialect=dialect))
    assert "stations.active = true" in boolean


def test_receiver_on_postgresql(tmp_path, pg_url):
    PG_URL = pg_url  # noqa: N806 - keeps the body readable
    engine = sa.create_engine(PG_URL)
    db.metadata.drop_all(engine)
    engine.dispose()
    with running_office(tmp_path / "office", PG_URL) as office:
        assert office.engine.dialect.name == "postgresql"
        photo = b"photo" * 500
        packet_id = packets.new_packet_id()
        manifest = {"schema": packets.MANIFEST_SCHEMA, "packet_id": packet_id, "station": "kph-01",
                    "files": {"photo.jpg": {"sha256": hashlib.sha256(photo).hexdigest(), "size_bytes": len(photo)}}}
        sealed = {"photo.jpg.age": packets.seal_part(photo, office.keys.recipient),
                  "manifest.json.age": packets.seal_part(json.dumps(manifest).encode(), office.keys.recipient)}
        packet = packets.build_packet(packet_id=packet_id, station_id="kph-01", created=datetime.now(UTC),
                                      sealed_parts=sealed, signing_key=office.station_keys["kph-01"])
        first = office.upload(packet, packet_id=packet_id, chunk_bytes=700)
        assert first.status == 204
        receipt = json.loads(base64.b64decode(first.headers["jemput-receipt"]))
        assert office.create(packet, packet_id=packet_id).json() == receipt
        assert office.request("GET", f"/api/v1/packets/{packet_id}/receipt").json() == receipt
        forged_id = packets.new_packet_id()
        forged = packets.build_packet(packet_id=forged_id, station_id="kph-01", created=datetime.now(UTC),
                                      sealed_parts=sealed, signing_key=office.station_keys["kph-02"])
        assert office.upload(forged, packet_id=forged_id).status == 422
        assert office.count(db.packets) == 1 and office.count(db.quarantine) == 1
        assert office.create(packet, packet_id=packet_id, token="nope").status == 401
    engine = sa.create_engine(PG_URL)
    db.metadata.drop_all(engine)
    engine.dispose()
