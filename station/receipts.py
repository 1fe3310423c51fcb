"""Upload receipts and rejections: the office's signed statements that it holds a packet, or refuses it for good.

The station marks a packet acknowledged only on a receipt that verifies against the office's Ed25519 key and names
the exact packet id and SHA-256 it sent, so a captive portal's "200 OK" or a stale answer can never make it purge a
record. The signature covers the canonical JSON (sorted keys, no spaces, ASCII) of every field but ``signature``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.errors import IntegrityError

RECEIPT_SCHEMA = "jemput.receipt/1"
_FIELDS = {"schema", "packet_id", "sha256", "received_at", "signature"}


class ReceiptError(IntegrityError):
    """A receipt is malformed, for another packet, or not signed by the office."""


def signing_input(receipt: dict[str, Any]) -> bytes:
    """The bytes the office signs: canonical JSON of the receipt without ``signature``."""
    body = {k: v for k, v in receipt.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_receipt(
    *, packet_id: str, sha256: str, received_at: datetime, office_key: Ed25519PrivateKey
) -> dict[str, Any]:
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    receipt: dict[str, Any] = {
        "schema": RECEIPT_SCHEMA,
        "packet_id": packet_id,
        "sha256": sha256,
        "received_at": received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    receipt["signature"] = base64.b64encode(office_key.sign(signing_input(receipt))).decode("ascii")
    return receipt


def verify_receipt(receipt: Any, *, office_key: Ed25519PublicKey, packet_id: str, sha256: str) -> None:
    """Raise ``ReceiptError`` unless ``receipt`` is the office's signed receipt for this exact packet."""
    if not isinstance(receipt, dict) or set(receipt) != _FIELDS:
        raise ReceiptError(f"not a receipt: expected exactly the fields {sorted(_FIELDS)}")
    if not all(isinstance(receipt[k], str) for k in _FIELDS):
        raise ReceiptError("not a receipt: every field must be a string")
    if receipt["schema"] != RECEIPT_SCHEMA:
        raise ReceiptError(f"receipt schema {receipt['schema']!r} is not {RECEIPT_SCHEMA!r}")
    if receipt["packet_id"] != packet_id:
        raise ReceiptError(f"receipt is for packet {receipt['packet_id']}, not {packet_id}")
    if receipt["sha256"] != sha256:
        raise ReceiptError(f"receipt is for different packet bytes (sha256 {receipt['sha256'][:16]}...)")
    try:
        signature = base64.b64decode(receipt["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise ReceiptError("receipt signature is not base64") from None
    try:
        office_key.verify(signature, signing_input(receipt))
    except InvalidSignature:
        raise ReceiptError("receipt signature does not verify against the office key") from None


REJECTION_SCHEMA = "jemput.rejection/1"
_REJECTION_FIELDS = {"schema", "packet_id", "sha256", "reason", "rejected_at", "signature"}


def sign_rejection(*, packet_id: str, sha256: str, reason: str, rejected_at: datetime,
                   office_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The office's signed refusal of one packet's exact bytes (DESIGN §6): only this sets a packet aside."""
    if rejected_at.tzinfo is None:
        raise ValueError("rejected_at must be timezone-aware")
    rejection: dict[str, Any] = {
        "schema": REJECTION_SCHEMA,
        "packet_id": packet_id,
        "sha256": sha256,
        "reason": reason,
        "rejected_at": rejected_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    rejection["signature"] = base64.b64encode(office_key.sign(signing_input(rejection))).decode("ascii")
    return rejection


def verify_rejection(rejection: Any, *, office_key: Ed25519PublicKey, packet_id: str, sha256: str) -> str:
    """Return the office's reason, or raise ``ReceiptError`` unless ``rejection`` is the office's signed refusal of
    this exact packet (a portal's or proxy's 422 is not)."""
    if not isinstance(rejection, dict) or set(rejection) != _REJECTION_FIELDS:
        raise ReceiptError(f"not a rejection: expected exactly the fields {sorted(_REJECTION_FIELDS)}")
    if not all(isinstance(rejection[k], str) for k in _REJECTION_FIELDS):
        raise ReceiptError("not a rejection: every field must be a string")
    if rejection["schema"] != REJECTION_SCHEMA:
        raise ReceiptError(f"rejection schema {rejection['schema']!r} is not {REJECTION_SCHEMA!r}")
    if rejection["packet_id"] != packet_id or rejection["sha256"] != sha256:
        raise ReceiptError("rejection is for another packet or other bytes")
    try:
        signature = base64.b64decode(rejection["signature"], validate=True)
        office_key.verify(signature, signing_input(rejection))
    except (binascii.Error, ValueError, InvalidSignature):
        raise ReceiptError("rejection signature does not verify against the office key") from None
    return rejection["reason"]
