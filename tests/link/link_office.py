"""A real office (B's receiver under waitress on loopback) and a real station outbox full of real packets."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from office import db, stations
from office.config import OfficeConfig, office_config_from_dict
from office.keys import OfficeKeys, init_office_keys
from office.server import OfficeServer
from station import keys, packets, store
from station.outbox import Outbox, write_durably


@dataclass
class Office:
    config: OfficeConfig
    engine: sa.Engine
    keys: OfficeKeys
    server: OfficeServer
    token: str
    station_key: Any

    def stored_packet_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(db.packets.c.packet_id))]

    def packet_files(self) -> list[str]:
        return sorted(p.name for p in self.config.packets_dir.iterdir())

    def staging_files(self) -> list[str]:
        return sorted(p.name for p in self.config.staging_dir.iterdir())


@contextmanager
def running_office(data_dir: Path, station: str = "kph-01") -> Iterator[Office]:
    config = office_config_from_dict({"office": {"district": "6106", "data_dir": str(data_dir), "port": 0}})
    office_keys = init_office_keys(config.keys_dir)
    engine = db.open_db(config.database_url)
    station_key = keys.generate_signing_key()
    token = stations.register_station(engine, station, keys.public_key_b64(station_key), "6106")
    server = OfficeServer(config, engine, office_keys).start()
    try:
        yield Office(config, engine, office_keys, server, token, station_key)
    finally:
        server.stop()
        engine.dispose()


def open_outbox(data_dir: Path) -> Outbox:
    """A fresh Outbox object on the station's data dir (what a restarted station builds)."""
    return Outbox(store.connect(data_dir), data_dir / "packets")


def queue_packets(office: Office, data_dir: Path, count: int, *, photo_bytes: int = 30_000,
                  station: str = "kph-01", first_nik: int = 0, signing_key: Any = None) -> list[str]:
    """Seal ``count`` real packets to the office and queue them in the station's outbox, oldest first."""
    outbox = open_outbox(data_dir)
    ids = []
    base = datetime.now(UTC) - timedelta(hours=1)
    for i in range(count):
        packet_id = packets.new_packet_id()
        photo = os.urandom(photo_bytes)          # incompressible, like a JPEG
        manifest = {"schema": packets.MANIFEST_SCHEMA, "packet_id": packet_id, "station": station,
                    "files": {"photo.jpg": {"sha256": hashlib.sha256(photo).hexdigest(), "size_bytes": len(photo)}}}
        sealed = {"photo.jpg.age": packets.seal_part(photo, office.keys.recipient),
                  "manifest.json.age": packets.seal_part(json.dumps(manifest).encode(), office.keys.recipient)}
        created = base + timedelta(seconds=i)
        data = packets.build_packet(packet_id=packet_id, station_id=station, created=created, sealed_parts=sealed,
                                    signing_key=signing_key or office.station_key)
        write_durably(outbox.path_for(packet_id), data)
        with store.transaction(outbox.conn):
            outbox.insert_sealed(outbox.conn, packet_id=packet_id, nik=f"6106014501900{first_nik + i:03d}",
                                 session_id=None, size_bytes=len(data), sha256=packets.packet_sha256(data),
                                 created_at=created)
        ids.append(packet_id)
    outbox.conn.close()
    return ids
