"""A real office (receiver on waitress, SQLite or PostgreSQL) and real stations that seal real records to it.

Records go the real way: the station's enrollment service seals each capture (biometric parts to the biometrics
recipient, the manifest to both), the outbox holds the packet, and it is uploaded over tus HTTP to the office.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from office import refdata
from office.keys import load_office_keys
from office.record_index import index_pending, records
from station import keys
from station.config import config_from_dict
from station.roster import Resident
from station.runtime import PART_BUILDERS, build_station, init_station
from station.sessions import open_session
from tests.enrollment.helpers import Payloads, ensure_operator, run_to_review
from tests.office_receiver.conftest import Office

KAPUAS_HULU = "6106"


def nik_for(kecamatan: str, born: date, sex: str, serial: int) -> str:
    day = born.day + (40 if sex == "P" else 0)
    return f"{kecamatan.replace('.', '')}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def resident(kode_desa: str, serial: int, *, sex: str = "L", born: date = date(1990, 3, 7)) -> Resident:
    return Resident(nik=nik_for(kode_desa[:8], born, sex, serial), nama=f"Warga {serial}", tanggal_lahir=born,
                    jenis_kelamin=sex, kode_desa=kode_desa, alamat="Jl. Kapuas")


@dataclass
class StationRig:
    """One station of the office's registry with its own store, sealing to the office's two recipients."""

    office: Office
    station_id: str
    root: Path
    station: Any = None
    payloads: dict[str, Payloads] = field(default_factory=dict)
    """What was captured for each packet id (to compare with what an export writes)."""

    def __post_init__(self) -> None:
        data = self.root / self.station_id
        (data / "keys").mkdir(parents=True, exist_ok=True)
        keys.save_private_key(self.office.station_keys[self.station_id], data / "keys" / "station.key",
                              overwrite=True)
        (data / "keys" / "upload-token").write_text(self.office.tokens[self.station_id])
        config = config_from_dict({
            "station": {"id": self.station_id, "district": KAPUAS_HULU, "data_dir": str(data)},
            "office": {"public_key": self.office.keys.recipient,
                       "biometrics_key": self.office.keys.biometrics_recipient,
                       "url": self.office.server.url, "verify_key": self.office.keys.verify_key_b64,
                       "token": f"@{data / 'keys' / 'upload-token'}"}})
        init_station(config)
        # The station's own tus uploader (station.sync), not started: each upload() runs one round of it.
        self.station = build_station(config, builders={"uploader": PART_BUILDERS["uploader"]})

    def record(self, who: Resident, *, session_desa: str | None = None, seed: int = 1) -> str:
        """Enroll ``who`` in a session at ``session_desa`` (default: their desa); returns the packet id."""
        conn = self.station.conn
        with self.station.db_lock:
            operator = ensure_operator(conn)
            from station.sessions import close_session, current_session

            session = current_session(conn)
            wanted = session_desa or who.kode_desa
            if session is not None and session.kode_desa != wanted:
                close_session(conn, session.id, operator)
                session = None
            session_id = session.id if session else open_session(conn, wanted, operator).id
        payloads = Payloads.random(256, seed=seed)
        draft = self.station.enrollment.start(session_id, who, operator)
        run_to_review(self.station.enrollment, draft.id, payloads, operator)
        packet_id = self.station.enrollment.finish(draft.id)
        self.payloads[packet_id] = payloads
        return packet_id

    def packet_bytes(self, packet_id: str) -> bytes:
        outbox = self.station.outbox
        return outbox.read_bytes(outbox.get(packet_id))

    def upload(self, packet_id: str) -> None:
        """One round of the station's uploader: the packet goes by tus and comes back acknowledged (receipt)."""
        self.station.uploader.run_once()
        state = self.station.outbox.get(packet_id).state.value
        assert state in ("acknowledged", "purged"), f"packet {packet_id} is {state} after an upload round"

    def record_and_upload(self, who: Resident, **kw: Any) -> str:
        packet_id = self.record(who, **kw)
        self.upload(packet_id)
        return packet_id

    def close(self) -> None:
        self.station.stop()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


OFFICE_LOCATION = {"location_lat": 0.8363, "location_lng": 112.9311}   # Putussibau


@contextmanager
def _running_office(data_dir: Path, database_url: str) -> Iterator[Office]:
    """As the receiver tests' office, with the office's location set (the planner's distances)."""
    from office import db, stations
    from office.keys import init_office_keys
    from office.server import OfficeServer
    from tests.office_receiver.conftest import office_config

    config = office_config(data_dir, database_url=database_url, **OFFICE_LOCATION)
    init_office_keys(config.keys_dir)
    office_keys = load_office_keys(config.keys_dir)   # what a running office loads: no biometrics identity
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


@contextmanager
def office_with_stations(root: Path, database_url: str = "") -> Iterator[tuple[Office, dict[str, StationRig]]]:
    with _running_office(root / "office", database_url) as office:
        refdata.ensure_shipped_wilayah(office.engine)
        refdata.ensure_shipped_boundaries(office.engine, KAPUAS_HULU)
        rigs = {sid: StationRig(office, sid, root / "stations") for sid in ("kph-01", "kph-02")}
        try:
            yield office, rigs
        finally:
            for rig in rigs.values():
                rig.close()


def index_all(office: Office) -> int:
    """Index every stored packet now (the server's own indexer may race us: both are safe) and return how many
    records rows there are."""
    while index_pending(office.engine, office.keys.age_identity or ""):
        pass
    with office.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
