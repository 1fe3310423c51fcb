"""The uploader: sealed packets from the outbox to the office, oldest first, exactly once (DESIGN §6).

Only a receipt signed by the office key, for this packet id and these bytes, acknowledges a packet: a 200 from a
captive portal, a proxy's error page or a half-finished upload acknowledges nothing. Before uploading it asks for a
receipt (the last attempt may have landed), and it resumes an interrupted upload from the office's ``HEAD`` offset
(persisted in the outbox, so a station restart does not start from zero). Chunks grow on a fast link and shrink on
a slow or failing one; failed rounds back off exponentially with jitter; a power policy can pause everything.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.chunking import ChunkPolicy, ChunkSizer
from station.errors import IntegrityError, JemputError
from station.events import EventBus, Subscription
from station.outbox import Outbox, OutboxItem
from station.receipts import ReceiptError, verify_receipt, verify_rejection
from station.tus_client import LinkError, Response, Stopped, TusClient

log = logging.getLogger(__name__)


NEW_RECORD_TOPICS = ("enrollment.finished",)
"""Bus topics that mean a packet was just queued: an idle uploader starts a round at once."""
PROGRESS_EVERY_BYTES = 32 * 1024
"""Within a PATCH, a ``sync.progress`` event per this many bytes sent (4 s of a 64 kbit/s link)."""
MAX_FRUITLESS_RESUMES = 1
"""Cuts in a row after which the office had no more bytes than before: then the round ends and backs off."""




class SyncState(StrEnum):
    IDLE = "idle"
    UPLOADING = "uploading"
    BACKOFF = "backoff"
    PAUSED = "paused"
    STOPPED = "stopped"


class UploadFailed(JemputError):
    """One packet could not be delivered this round. ``rejected`` = the office refused the packet itself, so the
    round goes on with the next one; otherwise the link is the problem and the round ends."""

    def __init__(self, message: str, *, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected


class Delivered(Exception):
    """Resuming found the upload complete and its receipt valid: the packet is acknowledged."""


class PacketRejected(UploadFailed):
    """The office refused this packet for good, in a rejection signed with its key (quarantined: bad signature,
    unknown key; or an id stored with other bytes). Retrying cannot help; the packet is set aside with the office's
    ``reason`` so later packets still go, until an operator or the office's ``requeue`` puts it back."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, rejected=True)
        self.reason = reason


@dataclass
class SyncResult:
    acknowledged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(packet id, office's reason) set aside for good this round; not a link failure, so no backoff."""
    remaining: int = 0
    bytes_sent: int = 0
    paused: bool = False


class Uploader:
    def __init__(self, outbox: Outbox, *, office_url: str, token: str, office_verify_key: Ed25519PublicKey | str,
                 bus: EventBus | None = None, power_policy: Any = None, can_sync: Callable[[], bool] | None = None,
                 chunk: ChunkPolicy | None = None, chunk_bytes: int | None = None, timeout_s: float = 20.0,
                 backoff_base_s: float = 2.0, backoff_max_s: float = 300.0, idle_poll_s: float = 60.0,
                 rng: random.Random | None = None, station_id: str | None = None, ca_file: str | None = None) -> None:
        self.outbox = outbox
        self._station_id = station_id
        self._key = (office_verify_key if isinstance(office_verify_key, Ed25519PublicKey)
                     else Ed25519PublicKey.from_public_bytes(base64.b64decode(office_verify_key)))
        self._bus = bus
        self._can_sync = can_sync or _power_gate(power_policy)
        self.chunk = chunk or ChunkPolicy(**({"initial_bytes": chunk_bytes} if chunk_bytes else {}))
        self._sizer = ChunkSizer(self.chunk)
        self._stop = threading.Event()
        self._trigger = threading.Event()
        self.client = TusClient(office_url, token, timeout_s=timeout_s, should_stop=self._stop.is_set,
                                ca_file=ca_file)
        self._backoff = (backoff_base_s, backoff_max_s)
        self._idle_poll_s = idle_poll_s
        self._rng = rng or random.Random()
        self._failures = 0
        self._connection = (0, 0)
        """(client connection number, PATCH bytes the office confirmed over it): how long a connection held."""
        self._thread: threading.Thread | None = None
        self._round_lock = threading.Lock()
        self.state = SyncState.IDLE
        self.current: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.next_attempt_at: float | None = None
        self._new_records: Subscription | None = None

    @property
    def chunk_bytes(self) -> int:
        """The size of the next PATCH (see ``station.chunking``)."""
        return self._sizer.size_bytes

    # -- control ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            if self._bus is not None and self._new_records is None:
                self._new_records = self._bus.subscribe(*NEW_RECORD_TOPICS, maxsize=64)
            self._thread = threading.Thread(target=self._run, name="jemput-uploader", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop within about one body piece (the in-flight request is abandoned; the office keeps its offset)."""
        self._stop.set()
        self._trigger.set()
        self.client.close()       # wakes a thread blocked in recv() at once instead of after the timeout
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.client.close()
        if self._new_records is not None:
            self._new_records.close()
            self._new_records = None
        self.state = SyncState.STOPPED

    def sync_now(self) -> None:
        """Start a round at once, skipping any backoff (operator button, ``sync-now`` command)."""
        self._failures = 0
        self._trigger.set()

    def progress(self) -> dict[str, Any]:
        """Snapshot for the UI, the CLI and telemetry."""
        wait = None if self.next_attempt_at is None else max(0.0, self.next_attempt_at - time.monotonic())
        return {"state": self.state.value, "current": dict(self.current) if self.current else None,
                "chunk_bytes": self.chunk_bytes, "bytes_sent": self.client.body_bytes_sent,
                "last_error": self.last_error, "next_attempt_in_s": wait}

    def _run(self) -> None:
        while not self._stop.is_set():
            result = self.run_once()
            if self._stop.is_set():
                return
            if result.failed:
                delay = self._backoff_delay()
                self.state = SyncState.BACKOFF
            else:
                delay = self._idle_poll_s
                if self.state != SyncState.PAUSED:
                    self.state = SyncState.IDLE
            self.next_attempt_at = time.monotonic() + delay
            self._wait(delay, wake_on_new_record=self.state == SyncState.IDLE)
            self._trigger.clear()
            self.next_attempt_at = None

    def _wait(self, delay_s: float, *, wake_on_new_record: bool) -> None:
        """Sleep until ``sync_now``/``stop`` or ``delay_s``; when idle, a newly sealed record also wakes us (but
        never cuts a backoff short: the link is what failed)."""
        deadline = time.monotonic() + delay_s
        while not self._trigger.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self._new_records is None:
                self._trigger.wait(remaining)
            elif self._new_records.get(timeout_s=min(remaining, 0.5)) is not None and wake_on_new_record:
                return

    def _backoff_delay(self) -> float:
        base, cap = self._backoff
        ceiling = min(cap, base * (2 ** min(self._failures - 1, 16)))
        return ceiling * (0.5 + self._rng.random() / 2)   # jitter: many stations must not retry in step

    # -- one round -------------------------------------------------------------------------------------------
    def run_once(self) -> SyncResult:
        """Deliver what can be delivered now, oldest first; returns what happened."""
        with self._round_lock:
            result = SyncResult()
            sent_before = self.client.body_bytes_sent
            try:
                self._round(result)
            finally:
                result.bytes_sent = self.client.body_bytes_sent - sent_before
                result.remaining = len(self.outbox.pending())
                self.current = None
            if result.failed:     # progress this round restarts the backoff ladder at its first step
                self._failures = 1 if result.acknowledged else self._failures + 1
            else:
                self._failures = 0
            return result

    def _round(self, result: SyncResult) -> None:
        for item in self.outbox.pending():
            if self._stop.is_set():
                return
            if not self._can_sync():
                self.state = SyncState.PAUSED
                result.paused = True
                return
            self.state = SyncState.UPLOADING
            try:
                self._deliver(item)
                result.acknowledged.append(item.packet_id)
                self.last_error = None
            except Stopped:
                return
            except PacketRejected as exc:
                self._rejected(item, exc, result)
            except (UploadFailed, LinkError, IntegrityError) as exc:
                if self._stop.is_set():
                    return            # our own stop broke the request: not the link's fault
                self._failed(item, exc, result)
                if not getattr(exc, "rejected", False):
                    return

    def _failed(self, item: OutboxItem, exc: Exception, result: SyncResult) -> None:
        error = str(exc)
        self.last_error = error
        result.failed.append((item.packet_id, error))
        if not getattr(exc, "chunk_shrunk", False):
            self._sizer.after_failure()
        log.warning("upload of %s failed: %s", item.packet_id, error)
        try:
            self.outbox.record_failure(item.packet_id, error[:500])
        except JemputError:
            log.exception("could not record the failure of %s", item.packet_id)
        self._publish("sync.failed", packet_id=item.packet_id, error=error[:200])

    def _rejected(self, item: OutboxItem, exc: PacketRejected, result: SyncResult) -> None:
        log.error("the office rejected packet %s: %s", item.packet_id, exc.reason)
        result.rejected.append((item.packet_id, exc.reason))
        try:
            self.outbox.mark_rejected(item.packet_id, exc.reason)
        except JemputError:
            log.exception("could not record the rejection of %s", item.packet_id)
        self._publish("sync.rejected", packet_id=item.packet_id, reason=exc.reason[:200])

    # -- one packet ------------------------------------------------------------------------------------------
    def _deliver(self, item: OutboxItem) -> None:
        self.current = {"packet_id": item.packet_id, "offset": item.upload_offset, "size_bytes": item.size_bytes}
        # Receipt first when an upload was started (its last PATCH may have landed). Without one the create asks
        # the same question: the office answers it with the receipt when it holds the packet (one round trip less).
        if item.upload_url and self._acknowledge_if_received(self.client.get_receipt(item.packet_id), item,
                                                             already=True):
            return
        url, offset = self._resume_point(item)
        if url is None:
            return          # the create answer carried a valid receipt: acknowledged
        data = memoryview(self.outbox.read_bytes(item))
        if len(data) != item.size_bytes:
            raise IntegrityError(f"packet {item.packet_id}: file is {len(data)} bytes, outbox says {item.size_bytes}")
        delivered, fruitless, progress = False, 0, offset
        while offset < len(data) and not delivered:
            try:
                offset, delivered = self._send_chunk(item, url, offset, data)
                if offset > progress:
                    fruitless, progress = 0, offset
            except LinkError:
                if self._stop.is_set():
                    raise
                # A cut mid-PATCH: the office keeps what arrived. Ask at once where it is and go on (one new
                # connection, one HEAD) instead of waiting for the next round; give up to the backoff only
                # when the link carries nothing.
                try:
                    resumed = self._office_offset(item, url)
                except Delivered:
                    return
                if resumed > progress:
                    fruitless, progress = 0, resumed
                else:
                    fruitless += 1
                if fruitless > MAX_FRUITLESS_RESUMES:
                    raise
                self._after_drop(kept_bytes=resumed - offset)
                log.info("upload of %s cut at %d; the office kept %d bytes, resuming", item.packet_id, offset,
                         resumed - offset)
                offset = resumed
        if not delivered:
            raise UploadFailed(f"{item.packet_id}: upload complete but the office gave no valid receipt")

    def _resume_point(self, item: OutboxItem) -> tuple[str | None, int]:
        """(upload url, office offset): HEAD on a known upload, else create one. Never restarts from zero when
        the office has bytes."""
        if item.upload_url:
            resp = self.client.head(item.upload_url)
            quarantined = resp.status == 200 and resp.header("Jemput-Upload-Result") == "quarantined"
            if quarantined:
                self._raise_if_rejected(resp, item, "HEAD")
                log.info("office quarantined upload %s of %s without refusing the packet; uploading it again",
                         item.upload_url, item.packet_id)
            elif resp.status == 200 and (resp.header("Upload-Offset") or "").isdigit():
                offset = int(resp.header("Upload-Offset") or 0)
                self.outbox.mark_uploading(item.packet_id, upload_url=item.upload_url, offset=offset)
                return item.upload_url, offset
            elif resp.status not in (404, 410):
                raise UploadFailed(f"HEAD {item.upload_url} answered {resp.status} without an Upload-Offset")
            else:
                log.info("office forgot upload %s of %s; creating a new one", item.upload_url, item.packet_id)
        station = self._station_id or _station_of(item)
        resp = self.client.create(item.size_bytes, {"packet_id": item.packet_id, "station": station,
                                                     "sha256": item.sha256})
        if resp.status == 200 and self._acknowledge_if_received(resp, item, already=True):
            return None, 0
        location = resp.header("Location")
        self._raise_if_rejected(resp, item, "create")
        if resp.status != 201 or not location:
            raise UploadFailed(f"create answered {resp.status} without a Location (not a tus office?)")
        self.outbox.mark_uploading(item.packet_id, upload_url=location, offset=0)
        return location, 0

    def _office_offset(self, item: OutboxItem, url: str) -> int:
        """The office's ``Upload-Offset`` for ``url`` (HEAD), recorded in the outbox. When the cut PATCH was the
        last one (the upload is complete, only its answer was lost) the receipt is fetched: ``Delivered``."""
        resp = self.client.head(url)
        value = resp.header("Upload-Offset") or ""
        result = resp.header("Jemput-Upload-Result")
        if result == "quarantined":
            self._raise_if_rejected(resp, item, "HEAD")
        if result in ("stored", "duplicate") and \
                self._acknowledge_if_received(self.client.get_receipt(item.packet_id), item, already=False):
            raise Delivered()
        if resp.status != 200 or not value.isdigit() or result:
            raise UploadFailed(f"HEAD {url} answered {resp.status} ({result or 'no result'}) while resuming")
        self.outbox.record_offset(item.packet_id, int(value))
        return int(value)

    def _after_drop(self, *, kept_bytes: int) -> None:
        """A streaming office kept part of the cut PATCH: chunk size does not matter for what a cut costs, so keep
        it. An office behind something that buffers bodies (kept nothing) needs chunks small next to how long
        connections live."""
        if kept_bytes > 0:
            return
        number, confirmed = self._connection
        self._sizer.after_drop(confirmed if number == self.client.connections_opened - 1 else 0)

    def _send_chunk(self, item: OutboxItem, url: str, offset: int, data: memoryview) -> tuple[int, bool]:
        """PATCH one chunk; returns (new offset, acknowledged)."""
        size = min(self.chunk_bytes, len(data) - offset)
        started = time.monotonic()
        resp = self.client.patch(url, offset, data[offset:offset + size],
                                 on_piece=self._progress_reporter(item, offset, len(data)))
        elapsed = time.monotonic() - started
        if resp.status == 204:
            number, confirmed = self._connection
            same = number == self.client.connections_opened
            self._connection = (self.client.connections_opened, (confirmed if same else 0) + size)
        new_offset = resp.header("Upload-Offset")
        if resp.status == 409 and new_offset and new_offset.isdigit():
            self.outbox.record_offset(item.packet_id, int(new_offset))
            if int(new_offset) >= len(data):   # an earlier PATCH finished it: the receipt is waiting
                return int(new_offset), self._acknowledge_if_received(self.client.get_receipt(item.packet_id),
                                                                      item, already=True)
            return int(new_offset), False    # the office has another offset (an earlier PATCH did land): follow it
        if resp.status != 204 or not (new_offset or "").isdigit():
            self._raise_if_rejected(resp, item, f"PATCH at {offset}")
            raise UploadFailed(f"PATCH at {offset} answered {resp.status}: {resp.body[:200]!r}")
        offset = int(new_offset or 0)
        self.outbox.record_offset(item.packet_id, offset)
        self._sizer.after_chunk(size, elapsed)
        self.current = {"packet_id": item.packet_id, "offset": offset, "size_bytes": len(data)}
        self._publish("sync.progress", packet_id=item.packet_id, offset=offset, size_bytes=len(data),
                      bytes_per_s=round(size / elapsed) if elapsed > 0 else None)
        if offset >= len(data):
            receipt = resp.header("Jemput-Receipt")
            if receipt and self._acknowledge_if_received(_decode_header_receipt(receipt), item, already=False):
                return offset, True
            return offset, self._acknowledge_if_received(self.client.get_receipt(item.packet_id), item,
                                                         already=False)
        return offset, False

    def _raise_if_rejected(self, resp: Response, item: OutboxItem, what: str) -> None:
        """Only a rejection signed by the office for this packet's bytes is final (DESIGN §6); a 422 from a captive
        portal, a proxy or anything else on the path is a transient failure and the packet stays pending."""
        rejection = _rejection_of(resp)
        if rejection is None:
            return
        try:
            reason = verify_rejection(rejection, office_key=self._key, packet_id=item.packet_id, sha256=item.sha256)
        except ReceiptError as exc:
            log.warning("ignoring an invalid rejection of %s: %s", item.packet_id, exc)
            return
        raise PacketRejected(f"{item.packet_id}: {what} answered {resp.status}: {reason}", reason=reason)

    def _progress_reporter(self, item: OutboxItem, offset: int, total: int) -> Callable[[int], None]:
        """``sync.progress`` about every ``PROGRESS_EVERY_BYTES`` sent within a PATCH (a whole packet may be one
        PATCH), so the queue page moves on a slow link; ``offset`` there is what left the station."""
        sent = [0, 0]      # bytes sent in this PATCH, bytes at the last event

        def on_piece(n: int) -> None:
            sent[0] += n
            if sent[0] - sent[1] >= PROGRESS_EVERY_BYTES:
                sent[1] = sent[0]
                self.current = {"packet_id": item.packet_id, "offset": offset + sent[0], "size_bytes": total}
                self._publish("sync.progress", packet_id=item.packet_id, offset=offset + sent[0], size_bytes=total,
                              bytes_per_s=None)
        return on_piece

    def _acknowledge_if_received(self, source: Response | dict | None, item: OutboxItem, *, already: bool) -> bool:
        receipt = source.json() if isinstance(source, Response) and source.status == 200 else source
        if not isinstance(receipt, dict):
            return False
        try:
            verify_receipt(receipt, office_key=self._key, packet_id=item.packet_id, sha256=item.sha256)
        except ReceiptError as exc:
            log.warning("ignoring an invalid receipt for %s: %s", item.packet_id, exc)
            return False
        self.outbox.acknowledge(item.packet_id, receipt)
        self._publish("sync.done", packet_id=item.packet_id, already_received=already)
        return True

    def _publish(self, topic: str, **data: Any) -> None:
        if self._bus is not None:
            self._bus.publish(topic, **data)


def _rejection_of(resp: Response) -> Any:
    """The signed rejection an answer carries (JSON body ``rejection`` or the ``Jemput-Rejection`` header)."""
    body = resp.json()
    if isinstance(body, dict) and isinstance(body.get("rejection"), dict):
        return body["rejection"]
    header = resp.header("Jemput-Rejection")
    return _decode_header_receipt(header) if header else None


def _decode_header_receipt(value: str) -> dict | None:
    try:
        return json.loads(base64.b64decode(value, validate=True))
    except (ValueError, TypeError):
        return None


def _station_of(item: OutboxItem) -> str:
    from station.packets import read_envelope

    return read_envelope(item.path.read_bytes()).station


def _power_gate(policy: Any) -> Callable[[], bool]:
    """Sync unless the battery is at the stop/shutdown level and not on mains (uploads cost radio power)."""
    if policy is None:
        return lambda: True

    def allowed() -> bool:
        snap = policy.snapshot()
        return bool(getattr(snap, "on_mains", False)) or str(getattr(snap, "level", "ok")) not in ("stop", "shutdown")
    return allowed

