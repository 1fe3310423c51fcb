"""The office's two keys: the age identity every station encrypts to, and the Ed25519 key that signs receipts and
MQTT commands. Both live as 0600 files in ``<data_dir>/keys``; ``init`` refuses to replace them, because a lost
age identity makes every record still in the field unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station import keys

AGE_IDENTITY_FILE = "office.age"
SIGNING_KEY_FILE = "office-signing.key"


@dataclass(frozen=True)
class OfficeKeys:
    signing_key: Ed25519PrivateKey
    """Signs receipts and commands."""
    age_identity: str | None
    """``AGE-SECRET-KEY-1...``: opens packets; the receiver itself never needs it (None if not loaded)."""
    recipient: str
    """``age1...``: goes into every station's ``[office] public_key``."""

    @property
    def verify_key_b64(self) -> str:
        """Goes into every station's ``[office] verify_key``."""
        return keys.public_key_b64(self.signing_key)


def init_office_keys(keys_dir: Path) -> OfficeKeys:
    """Create both key files (0600); ``KeyFileExists`` if either already exists, and then nothing is written."""
    keys_dir = Path(keys_dir)
    for name in (AGE_IDENTITY_FILE, SIGNING_KEY_FILE):
        if (keys_dir / name).exists():
            raise keys.KeyFileExists(f"{keys_dir / name}: already exists; refusing to overwrite office keys")
    secret, recipient = keys.generate_age_identity()
    signing_key = keys.generate_signing_key()
    created = f"# created by jemput office init\n# public key: {recipient}\n{secret}\n"
    keys.write_secret_file(keys_dir / AGE_IDENTITY_FILE, created.encode("ascii"), overwrite=False)
    keys.save_private_key(signing_key, keys_dir / SIGNING_KEY_FILE, overwrite=False)
    return OfficeKeys(signing_key=signing_key, age_identity=secret, recipient=recipient)


def load_office_keys(keys_dir: Path) -> OfficeKeys:
    keys_dir = Path(keys_dir)
    signing_key = keys.load_signing_key(keys_dir / SIGNING_KEY_FILE)
    secret = keys.load_age_identity(keys_dir / AGE_IDENTITY_FILE)
    return OfficeKeys(signing_key=signing_key, age_identity=secret, recipient=keys.age_recipient_of(secret))
