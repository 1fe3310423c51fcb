"""The office's keys: two age identities (DESIGN §5) and the Ed25519 key that signs receipts and MQTT commands.

*records* opens ``manifest.json.age`` (demographics and capture metadata: what the dashboard counts) and lives on
the online office server. *biometrics* opens the photo, finger and signature parts; it is written once by ``init``
to a file of its own so it can be moved to the machine that exports to the central system, and the online office
never loads it: only its public recipient (``biometrics.pub``) stays in the keys directory, for bundles and for
``init``'s output. All secret files are 0600 in a 0700 directory; ``init`` refuses to replace any of them, because
a lost identity makes every record still in the field unreadable.

Offices set up before the split have one identity, ``office.age``, that opens everything. ``load_office_keys``
still reads such a directory (that identity then serves as records and biometrics alike) so old stations keep
uploading; ``jemput office init`` on a fresh directory makes the two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station import keys

RECORDS_IDENTITY_FILE = "records.age"
BIOMETRICS_IDENTITY_FILE = "biometrics.age"
BIOMETRICS_RECIPIENT_FILE = "biometrics.pub"
LEGACY_IDENTITY_FILE = "office.age"
AGE_IDENTITY_FILE = RECORDS_IDENTITY_FILE  # the identity the online office loads
SIGNING_KEY_FILE = "office-signing.key"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OfficeKeys:
    signing_key: Ed25519PrivateKey
    """Signs receipts and commands."""
    age_identity: str | None
    """The *records* identity ``AGE-SECRET-KEY-1...``: opens manifests only (None if not loaded)."""
    recipient: str
    """*records* recipient ``age1...``: every station's ``[office] public_key``."""
    biometrics_recipient: str
    """*biometrics* recipient ``age1...``: every station's ``[office] biometrics_key``."""
    biometrics_identity: str | None = None
    """Set only right after ``init`` (to be moved away) or when loaded explicitly for an export; never by the
    online office."""

    @property
    def verify_key_b64(self) -> str:
        """Goes into every station's ``[office] verify_key``."""
        return keys.public_key_b64(self.signing_key)

    @property
    def single_identity(self) -> bool:
        """True for an office from before the split (one identity opens everything)."""
        return self.recipient == self.biometrics_recipient


def init_office_keys(keys_dir: Path, biometrics_out: Path | None = None) -> OfficeKeys:
    """Create the records and biometrics identities and the signing key (0600); nothing is written if any of the
    files already exists (``KeyFileExists``). ``biometrics_out`` defaults to ``<keys_dir>/biometrics.age``."""
    keys_dir = Path(keys_dir)
    biometrics_path = Path(biometrics_out) if biometrics_out else keys_dir / BIOMETRICS_IDENTITY_FILE
    targets = [keys_dir / n for n in (RECORDS_IDENTITY_FILE, SIGNING_KEY_FILE, BIOMETRICS_RECIPIENT_FILE,
                                      LEGACY_IDENTITY_FILE)] + [biometrics_path]
    for path in targets:
        if path.exists():
            raise keys.KeyFileExists(f"{path}: already exists; refusing to overwrite office keys")
    records_secret, records_recipient = keys.generate_age_identity()
    bio_secret, bio_recipient = keys.generate_age_identity()
    signing_key = keys.generate_signing_key()
    keys.write_secret_file(keys_dir / RECORDS_IDENTITY_FILE, _identity_text("records", records_secret,
                                                                             records_recipient), overwrite=False)
    keys.write_secret_file(biometrics_path, _identity_text("biometrics", bio_secret, bio_recipient), overwrite=False)
    keys.write_secret_file(keys_dir / BIOMETRICS_RECIPIENT_FILE, f"{bio_recipient}\n".encode("ascii"),
                           overwrite=False)
    keys.save_private_key(signing_key, keys_dir / SIGNING_KEY_FILE, overwrite=False)
    return OfficeKeys(signing_key=signing_key, age_identity=records_secret, recipient=records_recipient,
                      biometrics_recipient=bio_recipient, biometrics_identity=bio_secret)


def _identity_text(role: str, secret: str, recipient: str) -> bytes:
    hint = ("opens manifests only; stays on the online office" if role == "records" else
            "opens photo, fingers and signature; keep it OFF the online office (export machine only)")
    return f"# jemput office {role} identity: {hint}\n# public key: {recipient}\n{secret}\n".encode("ascii")


def load_office_keys(keys_dir: Path) -> OfficeKeys:
    """What the online office needs: the signing key and the *records* identity, never the biometrics one."""
    keys_dir = Path(keys_dir)
    signing_key = keys.load_signing_key(keys_dir / SIGNING_KEY_FILE)
    records_path = keys_dir / RECORDS_IDENTITY_FILE
    if not records_path.exists() and (keys_dir / LEGACY_IDENTITY_FILE).exists():
        secret = keys.load_age_identity(keys_dir / LEGACY_IDENTITY_FILE)
        recipient = keys.age_recipient_of(secret)
        log.warning("%s: single office identity from before the records/biometrics split; it opens biometric "
                    "parts too (see docs/office-receiver.md, 'Two identities')", keys_dir / LEGACY_IDENTITY_FILE)
        return OfficeKeys(signing_key=signing_key, age_identity=secret, recipient=recipient,
                          biometrics_recipient=recipient)
    secret = keys.load_age_identity(records_path)
    return OfficeKeys(signing_key=signing_key, age_identity=secret, recipient=keys.age_recipient_of(secret),
                      biometrics_recipient=load_biometrics_recipient(keys_dir))


def load_biometrics_recipient(keys_dir: Path) -> str:
    path = Path(keys_dir) / BIOMETRICS_RECIPIENT_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise keys.KeyMaterialError(f"{path}: biometrics recipient file not found (made by jemput office init)") \
            from None
    if not text.startswith("age1"):
        raise keys.KeyMaterialError(f"{path}: not an age recipient (age1...)")
    return text


def load_biometrics_identity(path: Path) -> str:
    """The export machine's identity file (``--identity``); the export itself refuses a records identity."""
    return keys.load_age_identity(Path(path))
