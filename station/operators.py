"""Station operators and their PINs.

PINs are short (4-8 digits), so the hash must be slow: scrypt with a per-operator random salt, its parameters kept
in the hash string so they can be raised later without breaking old hashes. Five wrong PINs in a row lock the
operator for five minutes (a kiosk in a village hall is physically reachable by anyone); a correct PIN resets the
count. Every outcome is written to the audit log in the same transaction as the counter change.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from station.audit import append_audit
from station.errors import JemputError
from station.store import transaction

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=5)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_PIN = re.compile(r"[0-9]{4,8}")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Operator:
    id: int
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class OperatorStatus:
    operator: Operator
    failed_attempts: int
    locked_until: datetime | None


class OperatorError(JemputError):
    """Adding or finding an operator failed (bad username, bad PIN format, duplicate)."""


class InvalidPin(OperatorError, ValueError):
    """The new PIN is not 4-8 digits."""


class WrongPin(JemputError):
    """Wrong PIN (or unknown operator, told apart only in the audit log)."""

    def __init__(self, message: str, remaining_attempts: int) -> None:
        super().__init__(message)
        self.remaining_attempts = remaining_attempts


class OperatorLocked(JemputError):
    """Too many wrong PINs; no PIN is even checked until ``until``."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


def hash_pin(pin: str) -> str:
    """``scrypt$n=..,r=..,p=..$<salt b64>$<key b64>``."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    params = f"n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}"
    return f"scrypt${params}${_b64(salt)}${_b64(key)}"


def check_pin_hash(pin: str, stored: str) -> bool:
    """Constant-time comparison against a stored hash; a malformed hash never matches."""
    try:
        scheme, params, salt_b64, key_b64 = stored.split("$")
        values = dict(item.split("=") for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(key_b64)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**26)
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def validate_pin(pin: str) -> None:
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise InvalidPin("PIN harus 4-8 angka / PIN must be 4-8 digits")


def add_operator(conn: sqlite3.Connection, username: str, display_name: str, pin: str,
                 role: str = "operator") -> Operator:
    """Create an operator; raises ``OperatorError`` for a bad or taken username, ``InvalidPin`` for a bad PIN."""
    check_operator_fields(username, display_name, role)
    validate_pin(pin)
    pin_hash = hash_pin(pin)
    now = _iso(datetime.now(UTC))
    with transaction(conn):
        try:
            cursor = conn.execute(
                "INSERT INTO operators (username, display_name, pin_hash, role, created_at) VALUES (?, ?, ?, ?, ?)",
                (username, display_name.strip(), pin_hash, role, now),
            )
        except sqlite3.IntegrityError:
            raise OperatorError(f"operator {username!r} already exists") from None
        append_audit(conn, "system", "operator_added", {"username": username, "role": role})
    return Operator(cursor.lastrowid, username, display_name.strip(), role)


def check_operator_fields(username: str, display_name: str, role: str) -> None:
    """``OperatorError`` naming the bad field (shared by ``add_operator`` and provisioning's operator import)."""
    if not _USERNAME.fullmatch(username or ""):
        raise OperatorError(
            f"username {username!r} must be 2-32 lowercase letters, digits, '.', '_' or '-' (first: letter or digit)"
        )
    if not display_name.strip():
        raise OperatorError("display name must not be empty")
    if role not in {r.value for r in Role}:
        raise OperatorError(f"role must be one of: {', '.join(r.value for r in Role)}")


def install_hashed_operators(conn: sqlite3.Connection, wanted: list[tuple[str, str, str, str]],
                             *, actor: str = "provisioning") -> int:
    """Make the active operators exactly ``wanted`` = [(username, display name, role, pin hash)].

    For provisioning: the office hashes PINs, the station only stores the hashes. Operators not in the list are
    deactivated (their audit history stays); an unchanged operator is not touched, so applying the same bundle
    twice writes nothing. Returns the number of operators added, changed or deactivated.
    """
    changed = 0
    with transaction(conn):
        current = {row[0]: tuple(row[1:]) for row in conn.execute(
            "SELECT username, display_name, role, pin_hash, active FROM operators")}
        now = _iso(datetime.now(UTC))
        for username, display_name, role, pin_hash in wanted:
            check_operator_fields(username, display_name, role)
            if current.get(username) == (display_name, role, pin_hash, 1):
                continue
            if username in current:
                conn.execute("UPDATE operators SET display_name = ?, role = ?, pin_hash = ?, active = 1,"
                             " failed_attempts = 0, locked_until = NULL WHERE username = ?",
                             (display_name, role, pin_hash, username))
                append_audit(conn, actor, "operator_updated", {"username": username, "role": role})
            else:
                conn.execute("INSERT INTO operators (username, display_name, pin_hash, role, created_at)"
                             " VALUES (?, ?, ?, ?, ?)", (username, display_name, pin_hash, role, now))
                append_audit(conn, actor, "operator_added", {"username": username, "role": role})
            changed += 1
        keep = {w[0] for w in wanted}
        for username, (_name, _role, _hash, active) in current.items():
            if active and username not in keep:
                conn.execute("UPDATE operators SET active = 0 WHERE username = ?", (username,))
                append_audit(conn, actor, "operator_deactivated", {"username": username})
                changed += 1
    return changed


def list_operators(conn: sqlite3.Connection) -> list[Operator]:
    rows = conn.execute(
        "SELECT id, username, display_name, role FROM operators WHERE active = 1 ORDER BY username"
    ).fetchall()
    return [Operator(*row) for row in rows]


def operator_status(conn: sqlite3.Connection) -> list[OperatorStatus]:
    """Operators with their lockout state, for ``jemput operator list`` and the supervisor screen."""
    rows = conn.execute(
        "SELECT id, username, display_name, role, failed_attempts, locked_until FROM operators"
        " WHERE active = 1 ORDER BY username"
    ).fetchall()
    return [OperatorStatus(Operator(*row[:4]), row[4], _parse(row[5])) for row in rows]


def get_operator(conn: sqlite3.Connection, operator_id: int) -> Operator | None:
    row = conn.execute(
        "SELECT id, username, display_name, role FROM operators WHERE id = ? AND active = 1", (operator_id,)
    ).fetchone()
    return Operator(*row) if row else None


def authenticate(conn: sqlite3.Connection, username: str, pin: str, *, now: datetime | None = None) -> Operator:
    """Log in. Raises ``WrongPin`` (with attempts left) or ``OperatorLocked`` (the 5th wrong PIN locks at once)."""
    now = _aware(now)
    row = conn.execute(
        "SELECT id, username, display_name, role, pin_hash FROM operators WHERE username = ? AND active = 1",
        (username,),
    ).fetchone()
    if row is None:
        check_pin_hash(str(pin), _dummy_hash())  # same cost as a real check, so timing does not reveal usernames
        append_audit(conn, str(username)[:64], "login_unknown_user", {}, now=now)
        raise WrongPin("Nama pengguna atau PIN salah / Wrong username or PIN", MAX_FAILED_ATTEMPTS)
    operator = Operator(*row[:4])
    _check(conn, operator, pin, now, purpose="login")  # raises unless the PIN is right
    return operator


def verify_pin(conn: sqlite3.Connection, operator_id: int, pin: str, *, now: datetime | None = None) -> bool:
    """Re-check a logged-in operator's PIN to confirm an action (e.g. a finger exception).

    Never raises for a wrong PIN: returns False. Failures count towards the same lockout as logins, and while the
    operator is locked every PIN (even the right one) gives False; ``locked_until()`` tells the UI why.
    """
    operator = get_operator(conn, operator_id)
    if operator is None:
        return False
    try:
        return _check(conn, operator, pin, _aware(now), purpose="confirm")
    except (WrongPin, OperatorLocked):
        return False


def locked_until(conn: sqlite3.Connection, operator_id: int, *, now: datetime | None = None) -> datetime | None:
    """When the operator's lockout ends, or None if they are not locked now."""
    row = conn.execute("SELECT locked_until FROM operators WHERE id = ?", (operator_id,)).fetchone()
    until = _parse(row[0]) if row else None
    return until if until is not None and _aware(now) < until else None


class _Outcome(StrEnum):
    OK = "ok"
    WRONG = "wrong_pin"
    LOCKED = "locked"


def _check(conn: sqlite3.Connection, operator: Operator, pin: str, now: datetime, *, purpose: str) -> bool:
    with transaction(conn):
        failed, locked_raw, pin_hash = conn.execute(
            "SELECT failed_attempts, locked_until, pin_hash FROM operators WHERE id = ?", (operator.id,)
        ).fetchone()
        lock_end = _parse(locked_raw)
        if lock_end is not None and now < lock_end:
            append_audit(conn, operator.username, f"{purpose}_locked", {"until": _iso(lock_end)}, now=now)
            outcome = _Outcome.LOCKED
        elif check_pin_hash(str(pin), pin_hash):
            conn.execute("UPDATE operators SET failed_attempts = 0, locked_until = NULL WHERE id = ?", (operator.id,))
            append_audit(conn, operator.username, f"{purpose}_ok", {}, now=now)
            outcome = _Outcome.OK
        else:
            failed = 1 if lock_end is not None else failed + 1  # an expired lock starts a fresh count
            lock_end = now + LOCKOUT if failed >= MAX_FAILED_ATTEMPTS else None
            conn.execute(
                "UPDATE operators SET failed_attempts = ?, locked_until = ? WHERE id = ?",
                (failed, _iso(lock_end) if lock_end else None, operator.id),
            )
            append_audit(conn, operator.username, f"{purpose}_wrong_pin", {"failed_attempts": failed}, now=now)
            if lock_end is not None:
                append_audit(conn, operator.username, "operator_locked", {"until": _iso(lock_end)}, now=now)
            outcome = _Outcome.LOCKED if lock_end is not None else _Outcome.WRONG
    if outcome is _Outcome.OK:
        return True
    if outcome is _Outcome.LOCKED:
        assert lock_end is not None
        local = lock_end.strftime("%H:%M UTC")
        raise OperatorLocked(
            f"Terlalu banyak PIN salah; terkunci sampai {local} / Too many wrong PINs; locked until {local}",
            lock_end,
        )
    remaining = MAX_FAILED_ATTEMPTS - failed
    raise WrongPin(f"PIN salah, sisa {remaining} kali / Wrong PIN, {remaining} attempts left", remaining)


def unlock_operator(conn: sqlite3.Connection, username: str, *, actor: str = "system") -> None:
    """Clear a lockout (supervisor action)."""
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE operators SET failed_attempts = 0, locked_until = NULL WHERE username = ?", (username,)
        )
        if cursor.rowcount == 0:
            raise OperatorError(f"no operator {username!r}")
        append_audit(conn, actor, "operator_unlocked", {"username": username})


def _aware(now: datetime | None) -> datetime:
    """Injected times without a zone are taken as UTC."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@functools.cache
def _dummy_hash() -> str:
    return hash_pin("00000000")
