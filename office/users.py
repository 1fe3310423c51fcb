"""Office dashboard users: who may read (viewer) and who may also act (admin).

Passwords are hashed with scrypt (stdlib ``hashlib``), its parameters kept in the hash string so they can be
raised later. Five wrong passwords in a row lock the account for five minutes (configurable); a right one resets
the count. Every change made through here is written to the office audit log in the same transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa

from office.audit import append_office_audit
from office.db import as_utc, metadata, utc_now
from station.errors import JemputError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LEN = 10
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")

office_users = sa.Table(
    "office_users",
    metadata,
    sa.Column("username", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("failed_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_login_at", sa.DateTime(timezone=True)),
)


class Role(StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"


class UserError(JemputError, ValueError):
    """A user cannot be added or changed; the message says why."""


class LoginRefused(JemputError):
    """Wrong name or password, or the account is locked (``locked_until`` set)."""

    def __init__(self, message: str, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


@dataclass(frozen=True)
class OfficeUser:
    username: str
    role: Role
    failed_attempts: int = 0
    locked_until: datetime | None = None
    last_login_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


_DUMMY_HASH = hash_password(secrets.token_hex(8))
"""Checked against when the user does not exist, so timing does not tell which names exist."""


def _check_new(username: str, password: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise UserError(f"user name {username!r} must be 2-32 lowercase letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_LEN:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LEN} characters")


def _user(row: sa.Row) -> OfficeUser:
    return OfficeUser(row.username, Role(row.role), row.failed_attempts or 0, as_utc(row.locked_until),
                      as_utc(row.last_login_at))


def add_user(engine: sa.Engine, username: str, password: str, role: Role | str, *, actor: str = "cli") -> OfficeUser:
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"role {role!r} must be 'viewer' or 'admin'") from None
    _check_new(username, password)
    with engine.begin() as conn:
        if conn.execute(sa.select(office_users.c.username).where(office_users.c.username == username)).first():
            raise UserError(f"user {username} already exists (use 'jemput office user passwd' to change it)")
        conn.execute(office_users.insert().values(username=username, role=role.value,
                                                  password_hash=hash_password(password), failed_attempts=0,
                                                  created_at=utc_now()))
        append_office_audit(conn, actor, "user.add", {"username": username, "role": role.value})
    return OfficeUser(username, role)


def set_password(engine: sa.Engine, username: str, password: str, *, actor: str = "cli") -> None:
    _check_new(username, password)
    with engine.begin() as conn:
        done = conn.execute(office_users.update().where(office_users.c.username == username).values(
            password_hash=hash_password(password), failed_attempts=0, locked_until=None)).rowcount
        if not done:
            raise UserError(f"user {username} does not exist")
        append_office_audit(conn, actor, "user.passwd", {"username": username})


def remove_user(engine: sa.Engine, username: str, *, actor: str = "cli") -> None:
    with engine.begin() as conn:
        if not conn.execute(office_users.delete().where(office_users.c.username == username)).rowcount:
            raise UserError(f"user {username} does not exist")
        append_office_audit(conn, actor, "user.remove", {"username": username})


def list_users(engine: sa.Engine) -> list[OfficeUser]:
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(sa.select(office_users).order_by(office_users.c.username))]


def get_user(engine: sa.Engine, username: str) -> OfficeUser | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(office_users).where(office_users.c.username == username)).first()
    return _user(row) if row else None


def authenticate(engine: sa.Engine, username: str, password: str, *, max_failed: int = 5,
                 lockout: timedelta = timedelta(minutes=5), now: datetime | None = None) -> OfficeUser:
    """The user when the password is right; ``LoginRefused`` otherwise (counted; locked after ``max_failed``)."""
    now = now or utc_now()
    refusal: LoginRefused | None = None
    with engine.begin() as conn:   # the counter change commits even when the login is refused
        row = conn.execute(sa.select(office_users).where(office_users.c.username == username)).first()
        if row is None:
            check_password(password, _DUMMY_HASH)
            refusal = LoginRefused("wrong user name or password")
        elif (locked_until := as_utc(row.locked_until)) is not None and locked_until > now:
            refusal = LoginRefused("account locked", locked_until)
        elif not check_password(password, row.password_hash):
            failed = (row.failed_attempts or 0) + 1
            until = now + lockout if failed >= max_failed else None
            conn.execute(office_users.update().where(office_users.c.username == username).values(
                failed_attempts=0 if until else failed, locked_until=until))
            append_office_audit(conn, username, "login.failed", {"attempt": failed, "locked": until is not None})
            refusal = LoginRefused("account locked" if until else "wrong user name or password", until)
        else:
            conn.execute(office_users.update().where(office_users.c.username == username).values(
                failed_attempts=0, locked_until=None, last_login_at=now))
    if refusal is not None:
        raise refusal
    return _user(row)
