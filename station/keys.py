"""Key material: the station's Ed25519 signing key, the office's age identity, and secret files.

Secrets are written atomically (temporary file in the same directory, fsync, rename) with mode 0600 from the first
byte, so a power cut leaves either the old file or the new one and no other user ever sees the key. Public keys
travel as base64 of the raw 32 bytes because that is what fits in a TOML config line.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import pyrage
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.durable import fsync_dir
from station.errors import JemputError


class KeyMaterialError(JemputError, ValueError):
    """A key or key file is missing, unreadable or not the kind of key expected; the message says which."""


class KeyFileExists(KeyMaterialError, FileExistsError):
    """Refused to overwrite an existing key file (losing a key loses every record sealed to it)."""


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: Path, *, overwrite: bool = False) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM, mode 0600, atomically; refuses to replace a key unless told to."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_secret_file(Path(path), pem, overwrite=overwrite)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise KeyMaterialError(f"{path}: key file not found") from None
    except OSError as exc:
        raise KeyMaterialError(f"{path}: cannot read key file: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMaterialError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Raw 32-byte Ed25519 public key as standard base64 (the form configs and the office register use)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_verify_key(b64: str) -> Ed25519PublicKey:
    """Parse a base64 raw Ed25519 public key; anything but exactly 32 bytes of strict base64 is refused."""
    try:
        raw = base64.b64decode(b64.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError):
        raise KeyMaterialError("Ed25519 public key is not valid base64") from None
    if len(raw) != 32:
        raise KeyMaterialError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate_age_identity() -> tuple[str, str]:
    """A new age X25519 identity: (secret ``AGE-SECRET-KEY-1...``, recipient ``age1...``)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def age_recipient_of(secret: str) -> str:
    """The ``age1...`` recipient belonging to a secret identity (to print or check it)."""
    return str(parse_age_identity(secret).to_public())


def parse_age_identity(secret: str) -> pyrage.x25519.Identity:
    try:
        return pyrage.x25519.Identity.from_str(secret.strip())
    except (pyrage.IdentityError, ValueError):
        raise KeyMaterialError("not a valid age secret key (expected AGE-SECRET-KEY-1...)") from None


def load_age_identity(path: Path) -> str:
    """Read an age identity file (``#`` comment lines allowed, as age-keygen writes them)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyMaterialError(f"{path}: age identity file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyMaterialError(f"{path}: cannot read age identity file: {exc}") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1:
        raise KeyMaterialError(f"{path}: expected exactly one AGE-SECRET-KEY line")
    parse_age_identity(lines[0])
    return lines[0]


def write_secret_file(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (parent made 0700 if new).

    With ``overwrite=False`` the final step is a hard link, which fails if ``path`` exists, so two processes can
    never both believe they created the key.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise KeyFileExists(f"{path}: already exists; refusing to overwrite a key")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeyFileExists(f"{path}: already exists; refusing to overwrite a key") from None
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)

