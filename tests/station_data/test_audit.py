"""The hash-chained audit log: tampering is detected and the first bad row named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from station.audit import GENESIS_HASH, append_audit, entry_hash, recent_audit, verify_audit_chain
from station.store import transaction


@pytest.fixture
def chained(conn):
    for i in range(1, 6):
        append_audit(conn, f"op{i}", "action", {"n": i, "nama": "Siti Āminah"},
                     now=datetime(2026, 11, 29, 8, i, tzinfo=UTC))
    return conn


def test_empty_chain_is_ok(conn):
    assert verify_audit_chain(conn).ok


def test_intact_chain_verifies(chained):
    verdict = verify_audit_chain(chained)
    assert verdict.ok and verdict.rows_checked == 5 and verdict.first_bad_seq is None


def test_hash_covers_prev_hash_and_fields(chained):
    first = chained.execute("SELECT * FROM audit_log WHERE seq = 1").fetchone()
    assert first["prev_hash"] == GENESIS_HASH
    assert first["hash"] == entry_hash(GENESIS_HASH, 1, first["ts"], "op1", "action", {"n": 1, "nama": "Siti Āminah"})
    second = chained.execute("SELECT * FROM audit_log WHERE seq = 2").fetchone()
    assert second["prev_hash"] == first["hash"]


def test_edited_detail_is_named(chained):
    chained.execute("UPDATE audit_log SET detail_json = '{\"n\":99}' WHERE seq = 3")
    verdict = verify_audit_chain(chained)
    assert (verdict.ok, verdict.first_bad_seq, verdict.rows_checked) == (False, 3, 2)
    assert "edited" in verdict.reason


def test_edited_actor_is_named(chained):
    chained.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = 4")
    assert verify_audit_chain(chained).first_bad_seq == 4


def test_deleted_row_is_named(chained):
    chained.execute("DELETE FROM audit_log WHERE seq = 2")
    verdict = verify_audit_chain(chained)
    assert not verdict.ok and verdict.first_bad_seq == 3


def test_deleted_first_row_is_named(chained):
    chained.execute("DELETE FROM audit_log WHERE seq = 1")
    assert verify_audit_chain(chained).first_bad_seq == 2


def test_deleted_last_row_is_named(chained):
    chained.execute("DELETE FROM audit_log WHERE seq = 5")
    verdict = verify_audit_chain(chained)
    assert not verdict.ok and verdict.first_bad_seq == 5 and "missing at the end" in verdict.reason


def test_reordered_rows_are_named(chained):
    chained.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
    chained.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    chained.execute("UPDATE audit_log SET seq = 3 WHERE seq = -1")
    verdict = verify_audit_chain(chained)
    assert not verdict.ok and verdict.first_bad_seq == 2


def test_rolled_back_caller_transaction_leaves_no_audit_row(chained):
    with pytest.raises(RuntimeError), transaction(chained):
        append_audit(chained, "op", "doomed", {})
        raise RuntimeError
    assert chained.execute("SELECT max(seq) FROM audit_log").fetchone()[0] == 5
    assert verify_audit_chain(chained).ok


def test_append_inside_caller_transaction_commits_with_it(chained):
    with transaction(chained):
        seq = append_audit(chained, "op", "with_work", {"x": 1})
        chained.execute("INSERT INTO meta (key, value) VALUES ('work', 'done')")
    assert seq == 6
    assert recent_audit(chained, 1)[0].action == "with_work"
    assert verify_audit_chain(chained).ok


def test_chain_survives_reopen(chained, data_dir):
    from station.store import connect

    other = connect(data_dir)
    append_audit(other, "op", "later", {})
    assert verify_audit_chain(other).rows_checked == 6
    other.close()
