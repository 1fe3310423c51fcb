"""Operators: scrypt PIN hashes, lockout after five wrong PINs, audit of every outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from station.audit import verify_audit_chain
from station.operators import (
    LOCKOUT,
    MAX_FAILED_ATTEMPTS,
    InvalidPin,
    Operator,
    OperatorError,
    OperatorLocked,
    WrongPin,
    add_operator,
    authenticate,
    check_pin_hash,
    get_operator,
    hash_pin,
    list_operators,
    locked_until,
    operator_status,
    unlock_operator,
    verify_pin,
)

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def actions(conn) -> list[str]:
    return [row[0] for row in conn.execute("SELECT action FROM audit_log ORDER BY seq")]


@pytest.fixture
def ani(conn) -> Operator:
    return add_operator(conn, "ani", "Ani Lestari", "4821")


def test_hash_is_salted_scrypt_with_params():
    first, second = hash_pin("4821"), hash_pin("4821")
    assert first != second  # random salt per hash
    scheme, params, _salt, _key = first.split("$")
    assert scheme == "scrypt" and params == "n=16384,r=8,p=1"
    assert check_pin_hash("4821", first) and check_pin_hash("4821", second)
    assert not check_pin_hash("4822", first)
    assert not check_pin_hash("4821", "garbage") and not check_pin_hash("4821", "bcrypt$n=1,r=1,p=1$AA==$AA==")


def test_add_stores_no_plain_pin(conn, ani):
    stored = conn.execute("SELECT pin_hash FROM operators WHERE id = ?", (ani.id,)).fetchone()[0]
    assert "4821" not in stored and stored.startswith("scrypt$")
    assert list_operators(conn) == [ani]
    assert get_operator(conn, ani.id) == ani
    assert ani.role == "operator"


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "", " 1234", "١٢٣٤"])
def test_pin_must_be_4_to_8_ascii_digits(conn, pin):
    with pytest.raises(InvalidPin):
        add_operator(conn, "budi", "Budi", pin)
    assert list_operators(conn) == []


def test_pin_lengths_4_and_8_are_accepted(conn):
    add_operator(conn, "a4", "Four", "0000")
    add_operator(conn, "a8", "Eight", "12345678", role="supervisor")
    assert [o.username for o in list_operators(conn)] == ["a4", "a8"]


@pytest.mark.parametrize(("username", "name", "role"), [("Ani", "x", "operator"), ("a b", "x", "operator"),
                                                        ("x", "x", "operator"), ("okname", " ", "operator"),
                                                        ("okname", "x", "admin")])
def test_bad_operator_fields_are_refused(conn, username, name, role):
    with pytest.raises(OperatorError):
        add_operator(conn, username, name, "1234", role=role)


def test_duplicate_username_is_refused(conn, ani):
    with pytest.raises(OperatorError, match="already exists"):
        add_operator(conn, "ani", "Another", "9999")


def test_login_ok_is_audited(conn, ani):
    assert authenticate(conn, "ani", "4821", now=T0) == ani
    assert actions(conn)[-1] == "login_ok"


def test_wrong_pin_counts_down_then_locks(conn, ani):
    for i in range(1, MAX_FAILED_ATTEMPTS):
        with pytest.raises(WrongPin) as caught:
            authenticate(conn, "ani", "0000", now=T0 + timedelta(seconds=i))
        assert caught.value.remaining_attempts == MAX_FAILED_ATTEMPTS - i
        assert "PIN salah" in str(caught.value) and "Wrong PIN" in str(caught.value)
    with pytest.raises(OperatorLocked) as locked:
        authenticate(conn, "ani", "0000", now=T0 + timedelta(seconds=5))
    assert locked.value.until == T0 + timedelta(seconds=5) + LOCKOUT
    # While locked even the right PIN is refused, and not counted.
    with pytest.raises(OperatorLocked):
        authenticate(conn, "ani", "4821", now=T0 + timedelta(minutes=4))
    assert actions(conn)[-3:] == ["login_wrong_pin", "operator_locked", "login_locked"]
    # After five minutes the right PIN works and resets the counter.
    assert authenticate(conn, "ani", "4821", now=T0 + timedelta(seconds=5) + LOCKOUT) == ani
    status = operator_status(conn)[0]
    assert (status.failed_attempts, status.locked_until) == (0, None)
    assert verify_audit_chain(conn).ok


def test_success_resets_the_count(conn, ani):
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        with pytest.raises(WrongPin):
            authenticate(conn, "ani", "1111", now=T0)
    authenticate(conn, "ani", "4821", now=T0)
    with pytest.raises(WrongPin) as caught:
        authenticate(conn, "ani", "1111", now=T0)
    assert caught.value.remaining_attempts == MAX_FAILED_ATTEMPTS - 1


def test_expired_lock_starts_a_fresh_count(conn, ani):
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        with pytest.raises(WrongPin):
            authenticate(conn, "ani", "1111", now=T0)
    with pytest.raises(OperatorLocked):
        authenticate(conn, "ani", "1111", now=T0)
    with pytest.raises(WrongPin) as caught:
        authenticate(conn, "ani", "1111", now=T0 + LOCKOUT)
    assert caught.value.remaining_attempts == MAX_FAILED_ATTEMPTS - 1


def test_lockout_survives_reopening(conn, ani, data_dir):
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        with pytest.raises(WrongPin):
            authenticate(conn, "ani", "1111", now=T0)
    with pytest.raises(OperatorLocked):
        authenticate(conn, "ani", "1111", now=T0)
    from station.store import connect

    other = connect(data_dir)
    with pytest.raises(OperatorLocked):
        authenticate(other, "ani", "4821", now=T0 + timedelta(minutes=1))
    other.close()


def test_naive_now_is_taken_as_utc(conn, ani):
    assert authenticate(conn, "ani", "4821", now=datetime(2026, 11, 29, 8, 0)) == ani


def test_unknown_user_gets_the_same_answer(conn, ani):
    with pytest.raises(WrongPin, match="Wrong username or PIN"):
        authenticate(conn, "nobody", "4821", now=T0)
    assert actions(conn)[-1] == "login_unknown_user"


def test_verify_pin_for_confirmations(conn, ani):
    assert verify_pin(conn, ani.id, "4821", now=T0)
    assert not verify_pin(conn, ani.id, "0000", now=T0)
    assert not verify_pin(conn, 999, "4821", now=T0)
    assert actions(conn)[-2:] == ["confirm_ok", "confirm_wrong_pin"]
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        assert not verify_pin(conn, ani.id, "0000", now=T0)
    assert locked_until(conn, ani.id, now=T0) == T0 + LOCKOUT
    assert not verify_pin(conn, ani.id, "4821", now=T0)  # locked: even the right PIN is refused
    assert actions(conn)[-3:] == ["confirm_wrong_pin", "operator_locked", "confirm_locked"]
    with pytest.raises(OperatorLocked):
        authenticate(conn, "ani", "4821", now=T0)
    assert locked_until(conn, ani.id, now=T0 + LOCKOUT) is None
    assert verify_pin(conn, ani.id, "4821", now=T0 + LOCKOUT)


def test_supervisor_unlock(conn, ani):
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        with pytest.raises(WrongPin):
            authenticate(conn, "ani", "1111", now=T0)
    with pytest.raises(OperatorLocked):
        authenticate(conn, "ani", "1111", now=T0)
    unlock_operator(conn, "ani", actor="sup")
    assert authenticate(conn, "ani", "4821", now=T0) == ani
    with pytest.raises(OperatorError):
        unlock_operator(conn, "nobody")
