"""The provisioning bundle file (``jemput.bundle/1``): one signed file that turns a blank card into a station.

Layout (UTF-8 JSON, so a person can see what it is and for whom)::

    {"schema": "jemput.bundle/1",
     "header": {bundle_id, station, district, created, office_verify_key, cert_not_after, desa: [codes]},
     "sealed": base64(age scrypt ciphertext of the payload JSON),
     "signature": base64(Ed25519 over  b"jemput.bundle/1\\0" + canonical(header) + b"\\0" + sealed)}

The header is in clear so ``apply`` can check the office signature and the district before it asks for anything
else. Everything else — the station key, the MQTT key, the upload token, operators (hashed PINs; a 4-digit PIN's
hash is still a short brute force away), the roster (residents' NIK and names) — is in ``sealed``, encrypted
with age to a passphrase the office hands over separately (``pyrage.passphrase``, scrypt work factor). The payload
repeats the header's station, district and office key, so a header swapped onto another bundle's ciphertext is
caught after decryption. Pure data in, data out: no file system here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station import keys
from station.errors import JemputError

SCHEMA = "jemput.bundle/1"
HEADER_KEYS = ("bundle_id", "station", "district", "created", "office_verify_key", "cert_not_after", "desa")


class RefusalKind(StrEnum):
    FORMAT = "format"
    SIGNATURE = "signature"
    OFFICE = "office"
    DISTRICT = "district"
    PASSPHRASE = "passphrase"
    CERTIFICATE = "certificate"
    CONTENT = "content"


class BundleRefused(JemputError):
    """The bundle is not installed; ``kind`` says which check failed and the message says what to do."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class SignedBundle:
    header: dict[str, Any]
    sealed: bytes
    signature: bytes

    @property
    def station(self) -> str:
        return str(self.header["station"])

    @property
    def district(self) -> str:
        return str(self.header["district"])


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _signed_message(header: dict[str, Any], sealed: bytes) -> bytes:
    return SCHEMA.encode("ascii") + b"\0" + _canonical(header) + b"\0" + sealed


def seal_bundle(header: dict[str, Any], payload: dict[str, Any], *, passphrase: str,
                signing_key: Ed25519PrivateKey) -> bytes:
    """The bundle file's bytes. ``header`` must hold exactly ``HEADER_KEYS``."""
    if sorted(header) != sorted(HEADER_KEYS):
        raise ValueError(f"bundle header needs exactly {HEADER_KEYS}, got {sorted(header)}")
    if not passphrase:
        raise ValueError("empty passphrase")
    sealed = pyrage.passphrase.encrypt(_canonical(payload), passphrase)
    signature = signing_key.sign(_signed_message(header, sealed))
    document = {"schema": SCHEMA, "header": header, "sealed": base64.b64encode(sealed).decode("ascii"),
                "signature": base64.b64encode(signature).decode("ascii")}
    return json.dumps(document, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def parse_bundle(data: bytes) -> SignedBundle:
    """Parse without trusting anything yet; ``BundleRefused(FORMAT)`` for anything that is not a bundle."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleRefused(RefusalKind.FORMAT, "not a Jemput bundle (not JSON); was the file damaged or "
                                                "truncated on the USB stick?") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise BundleRefused(RefusalKind.FORMAT, f"not a Jemput bundle (schema is not {SCHEMA!r})")
    header = document.get("header")
    if not isinstance(header, dict) or sorted(header) != sorted(HEADER_KEYS):
        raise BundleRefused(RefusalKind.FORMAT, "bundle header is incomplete or has unknown fields")
    try:
        sealed = base64.b64decode(str(document.get("sealed", "")), validate=True)
        signature = base64.b64decode(str(document.get("signature", "")), validate=True)
    except binascii.Error:
        raise BundleRefused(RefusalKind.FORMAT, "bundle is damaged (bad base64)") from None
    return SignedBundle(header, sealed, signature)


def verify_signature(bundle: SignedBundle, verify_key_b64: str) -> None:
    """``BundleRefused(SIGNATURE)`` unless the office key ``verify_key_b64`` signed exactly these bytes."""
    try:
        key = keys.load_verify_key(verify_key_b64)
        key.verify(bundle.signature, _signed_message(bundle.header, bundle.sealed))
    except (InvalidSignature, keys.KeyMaterialError):
        raise BundleRefused(RefusalKind.SIGNATURE, "the office signature does not match: the bundle was changed "
                                                   "after the office made it (or is damaged). Nothing was "
                                                   "installed; ask the office for a new bundle.") from None


def open_payload(bundle: SignedBundle, passphrase: str) -> dict[str, Any]:
    """Decrypt the sealed part; ``BundleRefused(PASSPHRASE)`` for a wrong passphrase."""
    try:
        plain = pyrage.passphrase.decrypt(bundle.sealed, passphrase)
    except pyrage.DecryptError:
        raise BundleRefused(RefusalKind.PASSPHRASE, "wrong passphrase for this bundle (nothing was installed)") \
            from None
    try:
        payload = json.loads(plain)
    except json.JSONDecodeError:
        raise BundleRefused(RefusalKind.FORMAT, "bundle payload is not JSON") from None
    for key in ("station", "district", "office_verify_key"):
        if payload.get(key) != bundle.header[key]:
            raise BundleRefused(RefusalKind.CONTENT, f"bundle header and payload disagree on {key!r}: the header "
                                                     "was taken from another bundle")
    return payload
