"""The receiver's state and its files: staging (uploads in progress), packets/ (verified) and quarantine/ (refused).

Split from ``office.receiver`` (the tus endpoints) so the file handling reads on its own, without Flask.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from office import db
from office.config import OfficeConfig
from office.keys import OfficeKeys
from station.durable import fsync_dir
from station.receipts import sign_receipt


@dataclass
class ReceiverContext:
    config: OfficeConfig
    engine: Engine
    keys: OfficeKeys
    store_lock: threading.Lock = field(default_factory=threading.Lock)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _upload_locks: dict[str, threading.Lock] = field(default_factory=dict)
    on_stored: list[Callable[[db.StoredPacket], None]] = field(default_factory=list)
    """Called after a packet is stored and receipted (the dashboard's records index wakes on it)."""

    def upload_lock(self, upload_id: str) -> threading.Lock:
        """One PATCH at a time per upload: two writers at one offset would interleave bytes."""
        with self._guard:
            return self._upload_locks.setdefault(upload_id, threading.Lock())

    def forget_lock(self, upload_id: str) -> None:
        with self._guard:
            self._upload_locks.pop(upload_id, None)

    def staging_path(self, upload_id: str) -> Path:
        return self.config.staging_dir / f"{upload_id}.part"


def recover_staging(ctx: ReceiverContext) -> None:
    """At start: drop staging files no open upload owns; close uploads whose staging file is gone."""
    open_ids = db.all_open_upload_ids(ctx.engine)
    for path in ctx.config.staging_dir.iterdir():
        if path.name.removesuffix(".part") not in open_ids:
            path.unlink(missing_ok=True)
    for upload_id in open_ids:
        if not ctx.staging_path(upload_id).exists():
            db.finish_upload(ctx.engine, upload_id, "lost")


def create_staging(ctx: ReceiverContext, upload_id: str) -> None:
    """An empty staging file, durable before the upload row that points at it is written."""
    with open(ctx.staging_path(upload_id), "xb") as handle:
        os.fsync(handle.fileno())
    fsync_dir(ctx.config.staging_dir)


def terminate_upload(ctx: ReceiverContext, upload_id: str) -> None:
    with ctx.upload_lock(upload_id):
        ctx.staging_path(upload_id).unlink(missing_ok=True)
        db.finish_upload(ctx.engine, upload_id, "terminated")
    ctx.forget_lock(upload_id)


def store_packet(ctx: ReceiverContext, found: db.Upload, staging: Path, sha256: str,
                 size_bytes: int) -> db.StoredPacket:
    final = ctx.config.packets_dir / f"{found.packet_id}.jpk"
    os.replace(staging, final)  # contents were fsynced by the last PATCH
    fsync_dir(ctx.config.packets_dir)
    fsync_dir(ctx.config.staging_dir)
    received_at = db.utc_now()
    receipt = sign_receipt(packet_id=found.packet_id, sha256=sha256, received_at=received_at,
                           office_key=ctx.keys.signing_key)
    packet = db.StoredPacket(packet_id=found.packet_id, station_id=found.station_id, sha256=sha256,
                             size_bytes=size_bytes, path=str(final), received_at=received_at, receipt=receipt)
    db.record_packet(ctx.engine, packet, found.upload_id)
    for listener in list(ctx.on_stored):
        listener(packet)
    return packet


def quarantine_upload(ctx: ReceiverContext, found: db.Upload, reason: str) -> Path:
    """Move a refused upload's bytes to quarantine/ and record why; returns where they went."""
    target = ctx.config.quarantine_dir / f"{found.upload_id}.jpk"
    os.replace(ctx.staging_path(found.upload_id), target)
    fsync_dir(ctx.config.quarantine_dir)
    db.record_quarantine(ctx.engine, upload_id=found.upload_id, packet_id=found.packet_id,
                         station_id=found.station_id, reason=reason, path=str(target))
    return target


def quarantine_reason(ctx: ReceiverContext, upload_id: str) -> str:
    with ctx.engine.connect() as conn:
        reason = conn.execute(sa.select(db.quarantine.c.reason).where(db.quarantine.c.upload_id == upload_id)
                              .order_by(db.quarantine.c.id.desc()).limit(1)).scalar()
    return reason or "quarantined"
