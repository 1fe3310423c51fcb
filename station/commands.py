"""Signed office -> station commands (MQTT ``cmd/<name>``).

The broker is not trusted to decide what a station does: every command carries an Ed25519 signature by the office
key over its canonical JSON (without ``signature``), an expiry, and a unique id. The station refuses a command
that is forged, expired, too long-lived, for another name than its topic, or already seen (replay), and says why.
Seen ids are kept until they expire (in a small file when ``seen_path`` is given, so a restart does not reopen the
replay window).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.errors import JemputError

COMMAND_NAMES = ("sync-now", "report", "lock", "unlock", "message", "requeue")
MAX_LIFETIME_S = 600
"""A command may be valid for at most this long (expires - ts); limits what a captured command is worth."""
CLOCK_SKEW_S = 300
"""How far in the future a command's ``ts`` may be (station clocks drift without network time)."""
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class CommandName(StrEnum):
    SYNC_NOW = "sync-now"
    REPORT = "report"
    LOCK = "lock"
    UNLOCK = "unlock"
    MESSAGE = "message"
    REQUEUE = "requeue"
    """Args ``{"packet_id": ID}`` or ``{"all_rejected": true}``: rejected packets back to pending (DESIGN §6)."""


class CommandRejected(JemputError):
    """A command failed verification; ``reason`` is a short machine word, the message says more."""

    def __init__(self, reason: str, message: str, command_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.command_id = command_id


@dataclass(frozen=True)
class Command:
    id: str
    name: str
    args: dict[str, Any]
    ts: datetime
    expires: datetime


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """The signed bytes: sorted keys, no spaces, UTF-8 — the same on both ends whatever the JSON library."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_ts(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise CommandRejected("malformed", f"'{field}' must be an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandRejected("malformed", f"'{field}' is not ISO 8601: {value!r}") from None
    if ts.tzinfo is None:
        raise CommandRejected("malformed", f"'{field}' has no time zone")
    return ts


def sign_command(
    name: str,
    args: Mapping[str, Any] | None,
    *,
    office_key: Ed25519PrivateKey,
    lifetime_s: int = 300,
    now: datetime | None = None,
    command_id: str | None = None,
) -> dict[str, Any]:
    """Build a signed command (office side; office may import station formats)."""
    now = now or datetime.now(UTC)
    body = {
        "id": command_id or uuid.uuid4().hex,
        "name": name,
        "args": dict(args or {}),
        "ts": _iso(now),
        "expires": _iso(now + timedelta(seconds=lifetime_s)),
    }
    body["signature"] = base64.b64encode(office_key.sign(canonical_json(body))).decode("ascii")
    return body


class CommandVerifier:
    """Checks commands for one station; thread-safe; remembers ids until they expire."""

    def __init__(self, verify_key: Ed25519PublicKey | None, *, seen_path: Path | None = None) -> None:
        self._key = verify_key
        self._seen_path = seen_path
        self._lock = threading.Lock()
        self._seen: dict[str, datetime] = self._load_seen()

    def verify(self, payload: bytes, *, topic_name: str, now: datetime | None = None) -> Command:
        """Parse and check one command; raises ``CommandRejected`` (with the id when it could be read)."""
        now = now or datetime.now(UTC)
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise CommandRejected("malformed", "command is not JSON") from None
        if not isinstance(body, dict):
            raise CommandRejected("malformed", "command must be a JSON object")
        cid = body.get("id")
        cid = cid if isinstance(cid, str) and _ID_RE.fullmatch(cid) else None
        try:
            return self._check(body, cid, topic_name, now)
        except CommandRejected as exc:
            exc.command_id = cid
            raise

    def _check(self, body: dict[str, Any], cid: str | None, topic_name: str, now: datetime) -> Command:
        if cid is None:
            raise CommandRejected("malformed", "command 'id' missing or not [A-Za-z0-9_-]{1,64}")
        missing = [k for k in ("name", "args", "ts", "expires", "signature") if k not in body]
        if missing:
            raise CommandRejected("malformed", f"command lacks {', '.join(missing)}")
        if self._key is None:
            raise CommandRejected("no_key", "station has no office verify key configured; commands refused")
        signature = body["signature"]
        unsigned = {k: v for k, v in body.items() if k != "signature"}
        try:
            self._key.verify(base64.b64decode(signature, validate=True), canonical_json(unsigned))
        except (InvalidSignature, ValueError, TypeError):
            raise CommandRejected("bad_signature", "command signature does not verify with the office key") from None
        name, args = body["name"], body["args"]
        if name != topic_name:
            raise CommandRejected("wrong_topic", f"command '{name}' arrived on cmd/{topic_name}")
        if name not in COMMAND_NAMES:
            raise CommandRejected("unknown_command", f"unknown command '{name}'")
        if not isinstance(args, dict):
            raise CommandRejected("malformed", "'args' must be an object")
        ts, expires = _parse_ts(body["ts"], "ts"), _parse_ts(body["expires"], "expires")
        if expires <= now:
            raise CommandRejected("expired", f"command expired at {_iso(expires)}")
        if ts > now + timedelta(seconds=CLOCK_SKEW_S):
            raise CommandRejected("future", f"command ts {_iso(ts)} is in the future")
        if (expires - ts).total_seconds() > MAX_LIFETIME_S:
            raise CommandRejected("too_long", f"command lifetime exceeds {MAX_LIFETIME_S} s")
        self._remember(cid, expires, now)
        return Command(cid, name, args, ts, expires)

    def _remember(self, cid: str, expires: datetime, now: datetime) -> None:
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if cid in self._seen:
                raise CommandRejected("replayed", f"command {cid} was already received")
            self._seen[cid] = expires
            self._save_seen()

    def _load_seen(self) -> dict[str, datetime]:
        if self._seen_path is None or not self._seen_path.exists():
            return {}
        try:
            raw = json.loads(self._seen_path.read_text(encoding="utf-8"))
            return {k: datetime.fromisoformat(v) for k, v in raw.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _save_seen(self) -> None:
        if self._seen_path is None:
            return
        self._seen_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._seen_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v.isoformat() for k, v in self._seen.items()}), encoding="utf-8")
        os.replace(tmp, self._seen_path)
