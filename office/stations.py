"""Station registry: which stations may upload, with which Ed25519 key, under which bearer token.

The office keeps only the SHA-256 of each token, so a stolen database cannot be used to upload; the token itself is
shown once, at registration, and goes into the station's config (``[office] token``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from office import db
from station import keys
from station.errors import JemputError

_STATION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class StationError(JemputError, ValueError):
    """A station cannot be registered or changed; the message says why."""


@dataclass(frozen=True)
class StationRecord:
    id: str
    district: str
    public_key_b64: str
    created_at: datetime
    active: bool

    @property
    def verify_key(self) -> Ed25519PublicKey:
        return keys.load_verify_key(self.public_key_b64)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def register_station(engine: sa.Engine, station_id: str, public_key_b64: str, district: str) -> str:
    """Register a station and return its new upload token (the only time it exists in clear)."""
    if not _STATION_RE.fullmatch(station_id):
        raise StationError(f"station id {station_id!r} must be lowercase letters, digits and '-' (e.g. 'kph-01')")
    if not re.fullmatch(r"[0-9]{4}", district):
        raise StationError(f"district {district!r} must be the 4-digit kode kabupaten/kota, e.g. '6106'")
    try:
        public_key_b64 = keys.public_key_b64(keys.load_verify_key(public_key_b64))
    except keys.KeyMaterialError as exc:
        raise StationError(f"public key for {station_id}: {exc}") from None
    if get_station(engine, station_id) is not None:
        raise StationError(f"station {station_id} is already registered")
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(db.stations.insert().values(
            id=station_id, district=district, public_key_b64=public_key_b64, token_hash=hash_token(token),
            created_at=db.utc_now(), active=True))
    return token


def rotate_token(engine: sa.Engine, station_id: str) -> str:
    """Replace a station's token (lost or leaked); the old one stops working at once."""
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        done = conn.execute(db.stations.update().where(db.stations.c.id == station_id)
                            .values(token_hash=hash_token(token))).rowcount
    if not done:
        raise StationError(f"station {station_id} is not registered")
    return token


def set_active(engine: sa.Engine, station_id: str, active: bool) -> None:
    with engine.begin() as conn:
        done = conn.execute(db.stations.update().where(db.stations.c.id == station_id)
                            .values(active=active)).rowcount
    if not done:
        raise StationError(f"station {station_id} is not registered")


def _record(row: sa.RowMapping) -> StationRecord:
    return StationRecord(id=row["id"], district=row["district"], public_key_b64=row["public_key_b64"],
                         created_at=db.as_utc(row["created_at"]), active=bool(row["active"]))


def get_station(engine: sa.Engine, station_id: str) -> StationRecord | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.stations).where(db.stations.c.id == station_id)).mappings().first()
    return _record(row) if row else None


def station_for_token(engine: sa.Engine, token: str) -> StationRecord | None:
    """The active station holding ``token``, or None. Looked up by hash, so timing reveals nothing of the token."""
    if not token:
        return None
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.stations).where(
            db.stations.c.token_hash == hash_token(token), db.stations.c.active == sa.true())).mappings().first()
    return _record(row) if row else None


def list_stations(engine: sa.Engine) -> list[StationRecord]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.stations).order_by(db.stations.c.id)).mappings().all()
    return [_record(r) for r in rows]


def replace_public_key(engine: sa.Engine, station_id: str, public_key_b64: str) -> None:
    """A station's card was replaced: from now on only the new key's packets are accepted (re-provisioning)."""
    try:
        public_key_b64 = keys.public_key_b64(keys.load_verify_key(public_key_b64))
    except keys.KeyMaterialError as exc:
        raise StationError(f"public key for {station_id}: {exc}") from None
    with engine.begin() as conn:
        done = conn.execute(db.stations.update().where(db.stations.c.id == station_id)
                            .values(public_key_b64=public_key_b64)).rowcount
    if not done:
        raise StationError(f"station {station_id} is not registered")
