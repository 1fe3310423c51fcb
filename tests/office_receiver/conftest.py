"""A real office for receiver tests: keys, SQLite database, two registered stations, and the receiver served by
waitress on 127.0.0.1 (a free port) in a thread. Clients speak plain HTTP through http.client."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from office import db, stations
from office.config import OfficeConfig, office_config_from_dict
from office.keys import OfficeKeys, init_office_keys
from office.server import OfficeServer
from station import keys, packets

TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Office:
    config: OfficeConfig
    engine: sa.Engine
    keys: OfficeKeys
    server: OfficeServer
    tokens: dict[str, str]
    station_keys: dict[str, Any]

    def request(self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
                token: str | None = "kph-01", tus: bool = True) -> Reply:
        all_headers = {**(TUS if tus else {}), **(headers or {})}
        if token is not None:
            all_headers.setdefault("Authorization", f"Bearer {self.tokens.get(token, token)}")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def create(self, packet: bytes, *, packet_id: str, station: str = "kph-01", token: str | None = None,
               length: int | None = None) -> Reply:
        meta = metadata_header(packet_id=packet_id, station=station, sha256=hashlib.sha256(packet).hexdigest())
        return self.request("POST", "/api/v1/uploads", token=token or station,
                            headers={"Upload-Length": str(len(packet) if length is None else length),
                                     "Upload-Metadata": meta})

    def patch(self, location: str, chunk: bytes, offset: int, *, token: str = "kph-01") -> Reply:
        return self.request("PATCH", path_of(location), body=chunk, token=token,
                            headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})

    def upload(self, packet: bytes, *, packet_id: str, station: str = "kph-01", chunk_bytes: int = 1000) -> Reply:
        """Create and PATCH in chunks; returns the last reply (or the POST's when it already answers)."""
        created = self.create(packet, packet_id=packet_id, station=station)
        if created.status != 201:
            return created
        offset, reply = 0, created
        while offset < len(packet):
            reply = self.patch(created.headers["location"], packet[offset:offset + chunk_bytes], offset,
                               token=station)
            if reply.status != 204 or "jemput-receipt" in reply.headers:
                return reply
            offset = int(reply.headers["upload-offset"])
        return reply

    def count(self, table: sa.Table) -> int:
        return db.count_rows(self.engine, table)


def path_of(location: str) -> str:
    return "/" + location.split("://", 1)[-1].split("/", 1)[1] if "://" in location else location


def metadata_header(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def office_config(data_dir: Path, **office: Any) -> OfficeConfig:
    return office_config_from_dict({"office": {"district": "6106", "data_dir": str(data_dir), "port": 0,
                                               "max_upload_mb": 2, **office}})


@contextmanager
def running_office(data_dir: Path, database_url: str = "") -> Iterator[Office]:
    """Keys, database (SQLite in ``data_dir`` unless a URL is given), stations kph-01 and kph-02, served."""
    config = office_config(data_dir, database_url=database_url)
    office_keys = init_office_keys(config.keys_dir)
    engine = db.open_db(config.database_url)
    station_keys = {sid: keys.generate_signing_key() for sid in ("kph-01", "kph-02")}
    tokens = {sid: stations.register_station(engine, sid, keys.public_key_b64(key), "6106")
              for sid, key in station_keys.items()}
    server = OfficeServer(config, engine, office_keys).start()
    try:
        yield Office(config, engine, office_keys, server, tokens, station_keys)
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    with running_office(tmp_path / "office") as running:
        yield running


@pytest.fixture
def make_packet(office: Office):
    """``make_packet(station="kph-01", signing_station=None, photo_bytes=3000) -> (packet_id, bytes)``."""

    def build(*, station: str = "kph-01", signing_station: str | None = None,
              photo_bytes: int = 3000) -> tuple[str, bytes]:
        packet_id = packets.new_packet_id()
        photo = bytes(i * 7 % 251 for i in range(photo_bytes))
        manifest = {"schema": packets.MANIFEST_SCHEMA, "packet_id": packet_id, "station": station,
                    "files": {"photo.jpg": {"sha256": hashlib.sha256(photo).hexdigest(), "size_bytes": len(photo)}}}
        sealed = {"photo.jpg.age": packets.seal_part(photo, office.keys.recipient),
                  "manifest.json.age": packets.seal_part(json.dumps(manifest).encode(), office.keys.recipient)}
        data = packets.build_packet(packet_id=packet_id, station_id=station, created=datetime.now(UTC),
                                    sealed_parts=sealed,
                                    signing_key=office.station_keys[signing_station or station])
        return packet_id, data

    return build


@pytest.fixture
def make_packet_for():
    """``make_packet_for(office) -> (packet_id, bytes)``: a small valid packet from kph-01 for any running office."""

    def build(office: Office) -> tuple[str, bytes]:
        packet_id = packets.new_packet_id()
        manifest = {"schema": packets.MANIFEST_SCHEMA, "packet_id": packet_id, "station": "kph-01", "files": {}}
        sealed = {"manifest.json.age": packets.seal_part(json.dumps(manifest).encode(), office.keys.recipient)}
        data = packets.build_packet(packet_id=packet_id, station_id="kph-01", created=datetime.now(UTC),
                                    sealed_parts=sealed, signing_key=office.station_keys["kph-01"])
        return packet_id, data

    return build
