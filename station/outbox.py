"""The outbox: a durable queue of sealed packets and their lifecycle.

A packet file (``data_dir/packets/<packet-id>.jpk``) is always durable before its outbox row commits (see
``write_durably``), so a row never points at a half-written file. The reverse can happen: a process killed between
the file's rename and the row's commit leaves a file nobody owns; ``recover()`` at start removes those and any
``*.tmp`` leftovers. Lifecycle: ``sealed -> uploading -> acknowledged -> purged``; purging deletes the file and
keeps the row (the station must still refuse the NIK as a duplicate, and the row shows the receipt).

Every method takes ``lock`` (the station's ``db_lock``) around its database work, so the uploader thread and the
UI can share one connection safely.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from station.durable import fsync_dir
from station.errors import IntegrityError, JemputError, StorageFull
from station.store import transaction, translate_disk_full

log = logging.getLogger(__name__)

PACKET_SUFFIX = ".jpk"
TMP_SUFFIX = ".tmp"


class OutboxState(StrEnum):
    SEALED = "sealed"
    UPLOADING = "uploading"
    ACKNOWLEDGED = "acknowledged"
    PURGED = "purged"


PENDING_STATES = (OutboxState.SEALED, OutboxState.UPLOADING)

REJECTED_MARKER = "rejected by office: "
"""``last_error`` prefix of a packet the office refused in a signed rejection (DESIGN §6). The state CHECK has no
'rejected', so such a row stays 'sealed' with this marker: out of ``pending()``, listed by ``rejected()``."""
_NOT_REJECTED = f"(last_error IS NULL OR last_error NOT LIKE '{REJECTED_MARKER}%')"
_PENDING_SQL = f"state IN ('sealed', 'uploading') AND {_NOT_REJECTED}"


class OutboxError(JemputError):
    """An outbox operation does not fit the record's state."""


class UnknownPacket(OutboxError):
    """No outbox row has this packet id."""


@dataclass(frozen=True)
class OutboxItem:
    packet_id: str
    nik: str
    state: OutboxState
    path: Path
    size_bytes: int
    sha256: str
    created_at: datetime
    upload_url: str | None
    upload_offset: int
    attempts: int
    """Failed upload attempts so far (``record_failure`` counts them)."""
    last_error: str | None
    acknowledged_at: datetime | None
    session_id: str | None = None
    updated_at: datetime | None = None
    purged_at: datetime | None = None

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or utc_now()) - self.created_at).total_seconds()

    @property
    def rejected(self) -> bool:
        """The office refused this packet for good; ``last_error`` carries its reason."""
        return self.state == OutboxState.SEALED and (self.last_error or "").startswith(REJECTED_MARKER)


@dataclass(frozen=True)
class QueueStats:
    pending: int
    pending_bytes: int
    oldest_pending_age_s: float | None
    acknowledged_total: int
    """Acknowledged plus purged: every record the office has a receipt for."""
    rejected: int = 0
    """Refused by the office for good (not pending: an operator must look at them)."""


@dataclass(frozen=True)
class RecoveryReport:
    removed_tmp: list[str] = field(default_factory=list)
    """Half-written ``*.tmp`` files deleted."""
    removed_orphans: list[str] = field(default_factory=list)
    """Complete packet files with no outbox row (killed before the commit); the draft is still there to finish."""
    missing_files: list[str] = field(default_factory=list)
    """Packet ids whose row is pending but whose file is gone: reported, never silently dropped."""

    @property
    def clean(self) -> bool:
        return not (self.removed_tmp or self.removed_orphans or self.missing_files)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """Timestamps are stored as ISO 8601 UTC with microseconds so string order is time order."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None



def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that after return it survives a power cut: tmp file, fsync, rename, fsync dir.

    On any failure (e.g. disk full) the tmp file is removed and the error re-raised as ``StorageFull`` when it is
    a disk-full error.
    """
    tmp = path.with_name(f".{path.name}{TMP_SUFFIX}")
    with translate_disk_full():
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)


class Outbox:
    def __init__(self, conn: sqlite3.Connection, packets_dir: Path, *,
                 lock: threading.RLock | None = None) -> None:
        self.conn = conn
        self.packets_dir = Path(packets_dir)
        self.packets_dir.mkdir(parents=True, exist_ok=True)
        self._lock: AbstractContextManager = lock if lock is not None else nullcontext()

    # -- reading ---------------------------------------------------------------------------------------------
    def pending(self) -> list[OutboxItem]:
        """Sealed and uploading packets the office has not rejected, oldest first: the uploader's work list."""
        return self._select(f"WHERE {_PENDING_SQL} ORDER BY created_at, packet_id")

    def rejected(self) -> list[OutboxItem]:
        """Packets the office refused for good, oldest first; ``last_error`` holds the office's reason."""
        return self._select(f"WHERE state = 'sealed' AND last_error LIKE '{REJECTED_MARKER}%' "
                            "ORDER BY created_at, packet_id")

    def get(self, packet_id: str) -> OutboxItem | None:
        items = self._select("WHERE packet_id = ?", (packet_id,))
        return items[0] if items else None

    def list(self, limit: int = 200) -> list[OutboxItem]:
        """Every record, newest first (for ``jemput queue list`` and the UI)."""
        return self._select("ORDER BY created_at DESC, packet_id DESC LIMIT ?", (limit,))

    def last_acknowledged(self) -> OutboxItem | None:
        items = self._select("WHERE acknowledged_at IS NOT NULL ORDER BY acknowledged_at DESC LIMIT 1")
        return items[0] if items else None

    def has_nik(self, nik: str) -> bool:
        with self._lock:
            return self.conn.execute("SELECT 1 FROM outbox WHERE nik = ?", (nik,)).fetchone() is not None

    def read_bytes(self, item: OutboxItem) -> bytes:
        try:
            return item.path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"packet {item.packet_id}: file {item.path} is missing") from None

    def path_for(self, packet_id: str) -> Path:
        return self.packets_dir / f"{packet_id}{PACKET_SUFFIX}"

    def stats(self, now: datetime | None = None) -> QueueStats:
        now = now or utc_now()
        with self._lock:
            row = self.conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(size_bytes), 0), MIN(created_at) FROM outbox WHERE {_PENDING_SQL}"
            ).fetchone()
            rejected = self.conn.execute(
                f"SELECT COUNT(*) FROM outbox WHERE state = 'sealed' AND NOT {_NOT_REJECTED}").fetchone()[0]
            acked = self.conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('acknowledged', 'purged')"
            ).fetchone()[0]
        oldest = parse_iso(row[2])
        age = max(0.0, (now - oldest).total_seconds()) if oldest else None
        return QueueStats(pending=row[0], pending_bytes=row[1], oldest_pending_age_s=age, acknowledged_total=acked,
                          rejected=rejected)

    # -- writing (called by enrollment.finish inside its transaction) -----------------------------------------
    def insert_sealed(self, conn: sqlite3.Connection, *, packet_id: str, nik: str, session_id: str | None,
                      size_bytes: int, sha256: str, created_at: datetime) -> None:
        """Insert the row for a durable packet file; the caller owns the transaction (and the lock)."""
        conn.execute(
            "INSERT INTO outbox (packet_id, nik, session_id, state, path, size_bytes, sha256, created_at, "
            "updated_at) VALUES (?, ?, ?, 'sealed', ?, ?, ?, ?, ?)",
            (packet_id, nik, session_id, f"{packet_id}{PACKET_SUFFIX}", size_bytes, sha256,
             iso(created_at), iso(created_at)),
        )

    # -- upload lifecycle (the uploader) ---------------------------------------------------------------------
    def mark_uploading(self, packet_id: str, *, upload_url: str | None, offset: int) -> None:
        self._update(packet_id, "state = 'uploading', upload_url = ?, upload_offset = ?", (upload_url, offset),
                     only_pending=True)

    def record_offset(self, packet_id: str, offset: int) -> None:
        self._update(packet_id, "upload_offset = ?", (offset,), only_pending=True)

    def record_failure(self, packet_id: str, error: str) -> None:
        """Count a failed attempt and keep its reason, so a stuck record always says why."""
        self._update(packet_id, "attempts = attempts + 1, last_error = ?", (error,))

    def mark_rejected(self, packet_id: str, reason: str) -> None:
        """The office refused this packet for good (quarantined): keep it, with the office's reason, out of the
        work list, so it neither blocks later packets nor looks merely "stuck"."""
        self._update(packet_id, "state = 'sealed', attempts = attempts + 1, last_error = ?",
                     ((REJECTED_MARKER + reason)[:500],), only_pending=True)

    def requeue(self, packet_id: str) -> None:
        """Put a packet the office rejected back in the work list (an operator action or the office's
        ``requeue`` command, DESIGN §6), as a fresh upload: the office's old upload of it was quarantined."""
        with self._lock:
            item = self._require(packet_id)
            if not item.rejected:
                raise OutboxError(f"packet {packet_id} is {item.state.value}, not rejected by the office")
            self._update(packet_id, "state = 'sealed', upload_url = NULL, upload_offset = 0, last_error = NULL", (),
                         only_pending=True)

    def requeue_all_rejected(self) -> list[str]:
        """``requeue`` every rejected packet; returns their ids, oldest first."""
        with self._lock:
            ids = [item.packet_id for item in self.rejected()]
            for packet_id in ids:
                self.requeue(packet_id)
        return ids

    def acknowledge(self, packet_id: str, receipt: dict) -> None:
        """Mark acknowledged on a receipt the caller has verified; idempotent."""
        with self._lock:
            item = self._require(packet_id)
            if item.state in (OutboxState.ACKNOWLEDGED, OutboxState.PURGED):
                return
            self._update(packet_id, "state = 'acknowledged', acknowledged_at = ?, receipt_json = ?, last_error = NULL",
                         (iso(utc_now()), json.dumps(receipt, sort_keys=True)))

    def receipt(self, packet_id: str) -> dict | None:
        with self._lock:
            row = self.conn.execute("SELECT receipt_json FROM outbox WHERE packet_id = ?", (packet_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def purge_acknowledged(self, *, older_than_days: int, now: datetime | None = None) -> int:
        """Delete the files of packets acknowledged more than ``older_than_days`` ago; rows stay, marked purged."""
        cutoff = iso((now or utc_now()) - timedelta(days=older_than_days))
        items = self._select("WHERE state = 'acknowledged' AND acknowledged_at <= ?", (cutoff,))
        for item in items:
            # File first: a crash in between leaves an 'acknowledged' row without a file, which the next purge
            # finishes; the other order could leave a file no row points at.
            item.path.unlink(missing_ok=True)
            self._update(item.packet_id, "state = 'purged', purged_at = ?", (iso(now or utc_now()),))
        if items:
            fsync_dir(self.packets_dir)
            try:
                self.reclaim_space()
            except StorageFull as exc:  # the files are gone all the same; SQLite retries at its next checkpoint
                log.warning("could not checkpoint the WAL after purging: %s", exc)
        return len(items)

    def reclaim_space(self) -> None:
        """Checkpoint and truncate the WAL: it only shrinks when asked, and on a nearly full card it is the
        biggest file after the packets (up to ~4 MB before SQLite's automatic checkpoint)."""
        with self._lock, translate_disk_full():
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- start-up ---------------------------------------------------------------------------------------------
    def recover(self) -> RecoveryReport:
        """Remove half-made files left by a crash; report pending rows whose file is missing."""
        report = RecoveryReport()
        with self._lock:
            known = {r[0]: r[1] for r in self.conn.execute("SELECT path, state FROM outbox")}
            missing = [
                r[0] for r in self.conn.execute(
                    "SELECT packet_id, path FROM outbox WHERE state IN ('sealed', 'uploading', 'acknowledged')")
                if not (self.packets_dir / r[1]).exists()
            ]
            for entry in sorted(self.packets_dir.iterdir()):
                if not entry.is_file():
                    continue
                if entry.name.endswith(TMP_SUFFIX):
                    entry.unlink()
                    report.removed_tmp.append(entry.name)
                elif entry.name.endswith(PACKET_SUFFIX) and entry.name not in known:
                    entry.unlink()
                    report.removed_orphans.append(entry.name)
        report.missing_files.extend(missing)
        if report.removed_tmp or report.removed_orphans:
            fsync_dir(self.packets_dir)
        return report

    # -- helpers ----------------------------------------------------------------------------------------------
    def _require(self, packet_id: str) -> OutboxItem:
        item = self.get(packet_id)
        if item is None:
            raise UnknownPacket(f"no outbox record for packet {packet_id}")
        return item

    def _update(self, packet_id: str, assignments: str, params: tuple, *, only_pending: bool = False) -> None:
        where = "packet_id = ?" + (" AND state IN ('sealed', 'uploading')" if only_pending else "")
        with self._lock, transaction(self.conn):
            cur = self.conn.execute(
                f"UPDATE outbox SET {assignments}, updated_at = ? WHERE {where}",
                (*params, iso(utc_now()), packet_id),
            )
            if cur.rowcount == 0:
                state = self.conn.execute("SELECT state FROM outbox WHERE packet_id = ?", (packet_id,)).fetchone()
                if state is None:
                    raise UnknownPacket(f"no outbox record for packet {packet_id}")
                raise OutboxError(f"packet {packet_id} is {state[0]}, not pending")

    def _select(self, clause: str, params: tuple = ()) -> list[OutboxItem]:
        with self._lock:
            rows = self.conn.execute(f"SELECT * FROM outbox {clause}", params).fetchall()
        return [self._item(r) for r in rows]

    def _item(self, row: sqlite3.Row) -> OutboxItem:
        return OutboxItem(
            packet_id=row["packet_id"], nik=row["nik"], state=OutboxState(row["state"]),
            path=self.packets_dir / row["path"], size_bytes=row["size_bytes"], sha256=row["sha256"],
            created_at=parse_iso(row["created_at"]), upload_url=row["upload_url"],
            upload_offset=row["upload_offset"], attempts=row["attempts"], last_error=row["last_error"],
            acknowledged_at=parse_iso(row["acknowledged_at"]), session_id=row["session_id"],
            updated_at=parse_iso(row["updated_at"]), purged_at=parse_iso(row["purged_at"]),
        )
