"""Outbox lifecycle, statistics, purge and crash recovery, on a real store and real packet files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import Payloads, make_resident, run_to_review

from station.errors import IntegrityError
from station.outbox import OutboxError, OutboxState, UnknownPacket, utc_now


def _enroll(service, session_id, operator, n: int) -> str:
    draft = service.start(session_id, make_resident(n), operator)
    run_to_review(service, draft.id, Payloads.random(64), operator)
    return service.finish(draft.id)


def test_lifecycle_sealed_uploading_acknowledged_purged(service, outbox, operator, session_id):
    first = _enroll(service, session_id, operator, 1)
    second = _enroll(service, session_id, operator, 2)
    assert [i.packet_id for i in outbox.pending()] == [first, second]  # oldest first
    assert [i.packet_id for i in outbox.list()] == [second, first]  # newest first

    outbox.mark_uploading(first, upload_url="http://127.0.0.1:9/api/v1/uploads/abc", offset=0)
    outbox.record_offset(first, 4096)
    outbox.record_failure(first, "connection refused")
    outbox.record_failure(first, "timeout after 30 s")
    item = outbox.get(first)
    assert item.state is OutboxState.UPLOADING and item.upload_offset == 4096
    assert item.attempts == 2 and item.last_error == "timeout after 30 s"
    assert item.upload_url.endswith("/abc")

    receipt = {"schema": "jemput.receipt/1", "packet_id": first, "sha256": item.sha256, "signature": "x"}
    outbox.acknowledge(first, receipt)
    outbox.acknowledge(first, receipt)  # idempotent
    item = outbox.get(first)
    assert item.state is OutboxState.ACKNOWLEDGED and item.last_error is None and item.acknowledged_at
    assert outbox.receipt(first) == receipt
    assert [i.packet_id for i in outbox.pending()] == [second]
    with pytest.raises(OutboxError, match="acknowledged, not pending"):
        outbox.mark_uploading(first, upload_url=None, offset=0)

    assert outbox.purge_acknowledged(older_than_days=30) == 0  # too recent
    assert item.path.exists()
    assert outbox.purge_acknowledged(older_than_days=30, now=utc_now() + timedelta(days=31)) == 1
    purged = outbox.get(first)
    assert purged.state is OutboxState.PURGED and purged.purged_at and not purged.path.exists()
    assert outbox.last_acknowledged().packet_id == first
    with pytest.raises(IntegrityError, match="missing"):
        outbox.read_bytes(purged)


def test_stats(service, outbox, operator, session_id):
    empty = outbox.stats()
    assert (empty.pending, empty.pending_bytes, empty.oldest_pending_age_s, empty.acknowledged_total) == (0, 0, None, 0)
    ids = [_enroll(service, session_id, operator, n) for n in (1, 2, 3)]
    outbox.acknowledge(ids[0], {})
    later = utc_now() + timedelta(seconds=100)
    stats = outbox.stats(now=later)
    sizes = [outbox.get(i).size_bytes for i in ids[1:]]
    assert stats.pending == 2 and stats.pending_bytes == sum(sizes) and stats.acknowledged_total == 1
    assert 99 <= stats.oldest_pending_age_s <= 110


def test_rejected_by_office_is_kept_with_its_reason_and_leaves_the_work_list(service, outbox, operator,
                                                                             session_id):
    bad, good = (_enroll(service, session_id, operator, n) for n in (1, 2))
    outbox.mark_uploading(bad, upload_url="http://127.0.0.1:9/api/v1/uploads/abc", offset=0)
    outbox.mark_rejected(bad, "signature does not verify")
    item = outbox.get(bad)
    assert item.state is OutboxState.SEALED and item.rejected and item.attempts == 1
    assert item.last_error == "rejected by office: signature does not verify"
    assert [i.packet_id for i in outbox.pending()] == [good]
    assert [i.packet_id for i in outbox.rejected()] == [bad] and not outbox.get(good).rejected
    stats = outbox.stats()
    assert (stats.pending, stats.pending_bytes, stats.rejected) == (1, outbox.get(good).size_bytes, 1)
    assert item.path.exists()                                     # kept for the operator, never deleted
    outbox.acknowledge(good, {})
    with pytest.raises(OutboxError, match="acknowledged, not pending"):
        outbox.mark_rejected(good, "too late")


def test_unknown_packet(outbox):
    with pytest.raises(UnknownPacket):
        outbox.record_failure("0190b0b0-0000-7000-8000-000000000000", "x")
    with pytest.raises(UnknownPacket):
        outbox.acknowledge("0190b0b0-0000-7000-8000-000000000000", {})
    assert outbox.get("nope") is None


def test_recover_removes_half_made_files_and_reports_missing(service, outbox, operator, session_id):
    kept = _enroll(service, session_id, operator, 1)
    lost = _enroll(service, session_id, operator, 2)
    outbox.get(lost).path.unlink()  # someone deleted a pending packet by hand
    tmp = outbox.packets_dir / ".0190b0b0-0000-7000-8000-00000000000a.jpk.tmp"
    tmp.write_bytes(b"half")
    orphan = outbox.packets_dir / "0190b0b0-0000-7000-8000-00000000000b.jpk"
    orphan.write_bytes(b"complete but never committed")
    report = outbox.recover()
    assert report.removed_tmp == [tmp.name] and report.removed_orphans == [orphan.name]
    assert report.missing_files == [lost] and not report.clean
    assert not tmp.exists() and not orphan.exists() and outbox.get(kept).path.exists()
    assert outbox.get(lost) is not None  # the row is reported, never silently dropped
    assert outbox.recover().removed_orphans == []
