"""The office database: registered stations, received packets, tus upload state and quarantine.

SQLAlchemy Core with portable types only, so the default SQLite file (WAL, ``synchronous=FULL``) and a PostgreSQL
URL both work. Other office modules (telemetry) define their tables on the same ``metadata``. Times are stored as
timezone-aware UTC; SQLite hands them back naive, so readers go through ``as_utc``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

metadata = sa.MetaData()

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("district", sa.String(4), nullable=False),
    sa.Column("public_key_b64", sa.String(64), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
)

packets = sa.Table(
    "packets",
    metadata,
    sa.Column("packet_id", sa.String(36), primary_key=True),
    sa.Column("station_id", sa.String(64), sa.ForeignKey("stations.id"), nullable=False, index=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("receipt_json", sa.Text, nullable=False),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("upload_id", sa.String(32), primary_key=True),
    sa.Column("station_id", sa.String(64), sa.ForeignKey("stations.id"), nullable=False, index=True),
    sa.Column("packet_id", sa.String(36), nullable=False, index=True),
    sa.Column("length_bytes", sa.BigInteger, nullable=False),
    sa.Column("offset_bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("metadata_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("result", sa.String(16)),  # stored | duplicate | quarantined | terminated
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upload_id", sa.String(32), nullable=False),
    sa.Column("packet_id", sa.String(36)),
    sa.Column("station_id", sa.String(64), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


def open_db(url: str) -> sa.Engine:
    """Engine for ``url`` with the office tables created; SQLite gets WAL, full sync and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from office.private_files import private_sqlite_file

            private_sqlite_file(Path(parsed.database))     # 0600 before SQLite creates it (and its WAL/SHM)
        engine = sa.create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    _import_table_modules()
    metadata.create_all(engine)
    return engine


def _import_table_modules() -> None:
    """Modules that define more office tables on ``metadata`` (reference data, the records index, coverage
    counts), imported here so every engine opened has them."""
    from office import desa_stats, record_index, refdata  # noqa: F401


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=15000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# -- uploads and packets (used by the receiver) ----------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    upload_id: str
    station_id: str
    packet_id: str
    length_bytes: int
    offset_bytes: int
    metadata: dict[str, str]
    created_at: datetime
    completed_at: datetime | None
    result: str | None


def create_upload(engine: sa.Engine, *, upload_id: str, station_id: str, packet_id: str, length_bytes: int,
                  meta: dict[str, str]) -> None:
    with engine.begin() as conn:
        conn.execute(uploads.insert().values(
            upload_id=upload_id, station_id=station_id, packet_id=packet_id, length_bytes=length_bytes,
            offset_bytes=0, metadata_json=json.dumps(meta, sort_keys=True), created_at=utc_now()))


def get_upload(engine: sa.Engine, upload_id: str) -> Upload | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(uploads).where(uploads.c.upload_id == upload_id)).mappings().first()
    if row is None:
        return None
    return Upload(upload_id=row["upload_id"], station_id=row["station_id"], packet_id=row["packet_id"],
                  length_bytes=row["length_bytes"], offset_bytes=row["offset_bytes"],
                  metadata=json.loads(row["metadata_json"]), created_at=as_utc(row["created_at"]),
                  completed_at=as_utc(row["completed_at"]), result=row["result"])


def open_uploads(engine: sa.Engine, station_id: str) -> list[str]:
    """Unfinished upload ids of a station, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(uploads.c.upload_id).where(
            uploads.c.station_id == station_id, uploads.c.completed_at.is_(None)).order_by(uploads.c.created_at))
        return [r[0] for r in rows]


def all_open_upload_ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.select(uploads.c.upload_id).where(uploads.c.completed_at.is_(None)))}


def set_offset(engine: sa.Engine, upload_id: str, offset_bytes: int) -> None:
    with engine.begin() as conn:
        conn.execute(uploads.update().where(uploads.c.upload_id == upload_id).values(offset_bytes=offset_bytes))


def finish_upload(engine: sa.Engine, upload_id: str, result: str) -> None:
    with engine.begin() as conn:
        conn.execute(uploads.update().where(uploads.c.upload_id == upload_id)
                     .values(completed_at=utc_now(), result=result))


def delete_upload(engine: sa.Engine, upload_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(uploads.delete().where(uploads.c.upload_id == upload_id))


@dataclass(frozen=True)
class StoredPacket:
    packet_id: str
    station_id: str
    sha256: str
    size_bytes: int
    path: str
    received_at: datetime
    receipt: dict[str, Any]


def get_packet(engine: sa.Engine, packet_id: str) -> StoredPacket | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(packets).where(packets.c.packet_id == packet_id)).mappings().first()
    if row is None:
        return None
    return StoredPacket(packet_id=row["packet_id"], station_id=row["station_id"], sha256=row["sha256"],
                        size_bytes=row["size_bytes"], path=row["path"], received_at=as_utc(row["received_at"]),
                        receipt=json.loads(row["receipt_json"]))


def record_packet(engine: sa.Engine, packet: StoredPacket, upload_id: str) -> None:
    """Insert the packet row and close its upload in one transaction (IntegrityError if the id exists)."""
    with engine.begin() as conn:
        conn.execute(packets.insert().values(
            packet_id=packet.packet_id, station_id=packet.station_id, sha256=packet.sha256,
            size_bytes=packet.size_bytes, path=packet.path, received_at=packet.received_at,
            receipt_json=json.dumps(packet.receipt, sort_keys=True)))
        conn.execute(uploads.update().where(uploads.c.upload_id == upload_id)
                     .values(completed_at=utc_now(), result="stored"))


def record_quarantine(engine: sa.Engine, *, upload_id: str, packet_id: str | None, station_id: str, reason: str,
                      path: str) -> None:
    with engine.begin() as conn:
        conn.execute(quarantine.insert().values(upload_id=upload_id, packet_id=packet_id, station_id=station_id,
                                                reason=reason, path=path, at=utc_now()))
        conn.execute(uploads.update().where(uploads.c.upload_id == upload_id)
                     .values(completed_at=utc_now(), result="quarantined"))


def count_rows(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
