"""The receiver's state and its files: staging (uploads in progress), packets/ (verified) and quarantine/ (refused).

Split from ``office.receiver`` (the tus endpoints) so the file handling reads on its own, without Flask.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from office import db
from office.config import OfficeConfig
from office.keys import OfficeKeys
from office.private_files import create_private_file
from station.durable import fsync_dir
from station.receipts import sign_receipt, sign_rejection

EXPIRY_CHECK_S = 600.0
"""How often (at most) a running office looks for expired uploads."""
NOT_THE_DECLARED_BYTES = "sha256 of the uploaded bytes differs"
"""Start of the quarantine reason for bytes that are not what the station declared (see ``upload_rejection``)."""


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
    last_expiry_run: float = 0.0
    """``time.monotonic()`` of the last ``expire_uploads``."""

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
    """At start: drop staging files no open upload owns; close uploads whose staging file is gone; expire the
    uploads nobody touched for ``upload_expiry_hours`` (e.g. a station killed between creating an upload and
    saving its URL, which leaves an empty ``.part`` and an open row that would otherwise stay forever)."""
    open_ids = db.all_open_upload_ids(ctx.engine)
    for path in ctx.config.staging_dir.iterdir():
        if path.name.removesuffix(".part") not in open_ids:
            path.unlink(missing_ok=True)
    for upload_id in open_ids:
        if not ctx.staging_path(upload_id).exists():
            db.finish_upload(ctx.engine, upload_id, "lost")
    expire_uploads(ctx)


def upload_expires_at(ctx: ReceiverContext, upload_id: str) -> datetime | None:
    """When an open upload expires (tus ``Upload-Expires``): its last write (the staging file's mtime) plus the
    expiry. The file's mtime is the activity clock, so no PATCH costs an extra database write."""
    try:
        mtime = ctx.staging_path(upload_id).stat().st_mtime
    except FileNotFoundError:
        return None
    return datetime.fromtimestamp(mtime, UTC) + timedelta(hours=ctx.config.office.upload_expiry_hours)


def expire_uploads(ctx: ReceiverContext, now: datetime | None = None) -> list[str]:
    """Close every open upload past its ``Upload-Expires`` and delete its staging bytes; returns their ids."""
    now = now or datetime.now(UTC)
    ctx.last_expiry_run = time.monotonic()
    expired = []
    for upload_id in db.all_open_upload_ids(ctx.engine):
        expires = upload_expires_at(ctx, upload_id)
        if expires is not None and expires <= now:
            with ctx.upload_lock(upload_id):
                ctx.staging_path(upload_id).unlink(missing_ok=True)
                db.finish_upload(ctx.engine, upload_id, "expired")
            ctx.forget_lock(upload_id)
            expired.append(upload_id)
    if expired:
        fsync_dir(ctx.config.staging_dir)
    return expired


def expire_uploads_now_and_then(ctx: ReceiverContext) -> None:
    """Called on every create: expires uploads at most every ``EXPIRY_CHECK_S`` (a long-running office too)."""
    if time.monotonic() - ctx.last_expiry_run >= EXPIRY_CHECK_S:
        expire_uploads(ctx)


def create_staging(ctx: ReceiverContext, upload_id: str) -> None:
    """An empty staging file, durable before the upload row that points at it is written."""
    fd = create_private_file(ctx.staging_path(upload_id))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
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
    found = _quarantine_row(ctx, upload_id)
    return found[0] if found else "quarantined"


def _quarantine_row(ctx: ReceiverContext, upload_id: str) -> tuple[str, datetime] | None:
    with ctx.engine.connect() as conn:
        row = conn.execute(sa.select(db.quarantine.c.reason, db.quarantine.c.at)
                           .where(db.quarantine.c.upload_id == upload_id)
                           .order_by(db.quarantine.c.id.desc()).limit(1)).first()
    return (row[0], db.as_utc(row[1])) if row else None


def upload_rejection(ctx: ReceiverContext, found: db.Upload) -> dict | None:
    """The signed rejection of a quarantined upload (DESIGN §6), or None when it is not a final refusal.

    Signed again on every ask from the stored reason and time: Ed25519 signatures are deterministic, so the
    station sees the same bytes whether it read the PATCH answer or a later ``HEAD``. An upload whose bytes did not
    hash to the station's declared SHA-256 is not the station's packet (damaged on the way): it is quarantined but
    never refused in the packet's name, so the station uploads it again.
    """
    row = _quarantine_row(ctx, found.upload_id)
    if row is None or row[0].startswith(NOT_THE_DECLARED_BYTES):
        return None
    return sign_rejection(packet_id=found.packet_id, sha256=found.metadata["sha256"], reason=row[0],
                          rejected_at=row[1], office_key=ctx.keys.signing_key)


def refusal(ctx: ReceiverContext, *, packet_id: str, sha256: str, reason: str) -> dict:
    """A signed rejection for a refusal that needs no upload (create: id stored with other bytes, too large)."""
    return sign_rejection(packet_id=packet_id, sha256=sha256, reason=reason, rejected_at=db.utc_now(),
                          office_key=ctx.keys.signing_key)
