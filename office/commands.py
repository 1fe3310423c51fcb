"""Commands office admins send to a station from its page, and what became of each.

A command is recorded (with the admin's name, in the same transaction as its audit row) before it is signed and
published, QoS 1, on ``cmd/<name>``; the station's answer arrives on ``reply/<id>`` and the ingest stores it. A
station that is offline gets the command when it comes back, as long as the command has not expired (the broker
keeps it in the station's persistent session, DESIGN §7), so the page says so rather than "failed".
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature

from office import telemetry_db as tdb
from office.audit import append_office_audit
from office.db import as_utc, metadata, utc_now
from station.commands import canonical_json, sign_command

office_commands = sa.Table(
    "office_command",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("station", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(32), nullable=False),
    sa.Column("args_json", sa.Text, nullable=False),
    sa.Column("sent_by", sa.String(32), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("station_online", sa.Boolean, nullable=False),
    sa.Column("publish_error", sa.Text),
)

DASHBOARD_COMMANDS = ("sync-now", "lock", "unlock", "message", "requeue")
MAX_TEXT = 300


class CommandError(ValueError):
    """The command cannot be sent as asked; the message says why (shown to the admin)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class CommandState(StrEnum):
    OK = "ok"
    """The station answered and did it."""
    FAILED = "failed"
    """The station answered that it could not (or refused the command)."""
    SENT = "sent"
    """Published; the answer is not due yet."""
    WAITING = "waiting"
    """The station is offline: the broker holds the command until it is back (or the command expires)."""
    NO_ANSWER = "no_answer"
    """Online, but no answer within ``answer_wait_s``."""
    EXPIRED = "expired"
    """No answer before the command expired; the station will refuse it now."""
    NOT_SENT = "not_sent"
    """Publishing failed (the office has no broker connection)."""


@dataclass(frozen=True)
class CommandView:
    id: str
    station: str
    name: str
    args: dict[str, Any]
    sent_by: str
    sent_at: datetime
    expires_at: datetime
    state: CommandState
    reply: dict[str, Any] | None
    reply_at: datetime | None
    reply_signed: bool | None
    """True: signature checked with the station's key; False: bad signature; None: the reply carries none."""

    def to_json(self) -> dict[str, Any]:
        iso = _iso
        return {"id": self.id, "station": self.station, "name": self.name, "args": self.args,
                "sent_by": self.sent_by, "sent_at": iso(self.sent_at), "expires_at": iso(self.expires_at),
                "state": self.state.value, "reply": self.reply, "reply_at": iso(self.reply_at),
                "reply_signed": self.reply_signed}


def validate_args(name: str, form: dict[str, Any]) -> dict[str, Any]:
    """The command's args from a form/JSON body; ``CommandError`` naming the field when something is wrong."""
    if name not in DASHBOARD_COMMANDS:
        raise CommandError("name", f"unknown command {name!r}")
    text = str(form.get("reason" if name == "lock" else "text", "") or "").strip()
    if name == "lock":
        if not text:
            raise CommandError("reason", "a lock needs a reason (the operator sees it)")
        if len(text) > MAX_TEXT:
            raise CommandError("reason", f"the reason may have at most {MAX_TEXT} characters")
        return {"reason": text}
    if name == "message":
        if not text:
            raise CommandError("text", "the message is empty")
        if len(text) > MAX_TEXT:
            raise CommandError("text", f"the message may have at most {MAX_TEXT} characters")
        return {"text": text}
    if name == "requeue":
        packet_id = str(form.get("packet_id", "") or "").strip()
        if packet_id:
            try:
                return {"packet_id": str(uuid.UUID(packet_id))}
            except ValueError:
                raise CommandError("packet_id", "the packet id is not a UUID") from None
        return {"all_rejected": True}
    return {}


def send(engine: sa.Engine, *, ingest: Any, office_key: Any, district: str, station: str, name: str,
         args: dict[str, Any], user: str, station_online: bool, lifetime_s: int) -> str:
    """Record, audit, sign and publish one command; returns its id."""
    now = utc_now()
    command_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(office_commands.insert().values(
            id=command_id, station=station, name=name, args_json=json.dumps(args), sent_by=user, sent_at=now,
            expires_at=now + timedelta(seconds=lifetime_s), station_online=station_online))
        append_office_audit(conn, user, "command." + name, {"station": station, "command": command_id, "args": args})
    try:
        if ingest is None or getattr(ingest, "_client", None) is None:
            raise RuntimeError("the office has no MQTT connection ([mqtt] host is empty)")
        body = sign_command(name, args, office_key=office_key, lifetime_s=lifetime_s, now=now, command_id=command_id)
        ingest.publish_command(district, station, name, body)
    except Exception as exc:  # noqa: BLE001 - recorded and shown; the admin can try again
        with engine.begin() as conn:
            conn.execute(office_commands.update().where(office_commands.c.id == command_id)
                         .values(publish_error=str(exc)[:500]))
    return command_id


def command_name(engine: sa.Engine, command_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(office_commands.c.name).where(office_commands.c.id == command_id)).scalar()


def verify_reply(reply: dict[str, Any], verify_key: Any) -> bool | None:
    signature = reply.get("signature")
    if not isinstance(signature, str):
        return None
    unsigned = {k: v for k, v in reply.items() if k != "signature"}
    try:
        verify_key.verify(base64.b64decode(signature, validate=True), canonical_json(unsigned))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def recent_commands(engine: sa.Engine, station: str, *, station_online: bool, answer_wait_s: int,
                    verify_key: Any = None, limit: int = 20, now: datetime | None = None) -> list[CommandView]:
    """The station's latest commands with their state, newest first."""
    now = now or utc_now()
    c, r = office_commands, tdb.command_replies
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c).where(c.c.station == station).order_by(c.c.sent_at.desc())
                            .limit(limit)).all()
        ids = [row.id for row in rows]
        replies = {}
        if ids:
            for rep in conn.execute(sa.select(r).where(r.c.command_id.in_(ids), r.c.station == station)
                                    .order_by(r.c.id)):
                replies[rep.command_id] = rep
    out = []
    for row in rows:
        rep = replies.get(row.id)
        reply = json.loads(rep.reply_json) if rep is not None else None
        sent_at, expires_at = as_utc(row.sent_at), as_utc(row.expires_at)
        if row.publish_error:
            state = CommandState.NOT_SENT
        elif rep is not None:
            state = CommandState.OK if rep.ok else CommandState.FAILED
        elif now >= expires_at:
            state = CommandState.EXPIRED
        elif not station_online:
            state = CommandState.WAITING
        elif (now - sent_at).total_seconds() >= answer_wait_s:
            state = CommandState.NO_ANSWER
        else:
            state = CommandState.SENT
        signed = verify_reply(reply, verify_key) if reply is not None and verify_key is not None else None
        out.append(CommandView(row.id, row.station, row.name, json.loads(row.args_json), row.sent_by, sent_at,
                               expires_at, state, reply, as_utc(rep.received_at) if rep is not None else None,
                               signed))
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
