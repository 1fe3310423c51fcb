"""Key files (0600, atomic, never overwritten by accident) and office receipts (only the exact packet, only the
office's signature)."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime

import pytest

from station import keys, receipts
from station.receipts import ReceiptError

SHA = "ab" * 32
PID = "01935c6e-7f00-7000-8000-000000000001"


def test_signing_key_file_round_trip(tmp_path):
    key = keys.generate_signing_key()
    path = tmp_path / "keys" / "station.key"
    keys.save_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = keys.load_signing_key(path)
    assert keys.public_key_b64(loaded) == keys.public_key_b64(key)
    assert keys.public_key_b64(key.public_key()) == keys.public_key_b64(key)
    assert [p.name for p in path.parent.iterdir()] == ["station.key"], "no temporary file left behind"


def test_existing_key_is_never_overwritten_unless_asked(tmp_path):
    path = tmp_path / "station.key"
    first = keys.generate_signing_key()
    keys.save_private_key(first, path)
    with pytest.raises(keys.KeyFileExists, match="refusing to overwrite"):
        keys.save_private_key(keys.generate_signing_key(), path)
    assert keys.public_key_b64(keys.load_signing_key(path)) == keys.public_key_b64(first)
    second = keys.generate_signing_key()
    keys.save_private_key(second, path, overwrite=True)
    assert keys.public_key_b64(keys.load_signing_key(path)) == keys.public_key_b64(second)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_bad_key_files_give_clear_errors(tmp_path):
    with pytest.raises(keys.KeyMaterialError, match="not found"):
        keys.load_signing_key(tmp_path / "nope.key")
    (tmp_path / "junk.key").write_bytes(b"hello")
    with pytest.raises(keys.KeyMaterialError, match="PEM"):
        keys.load_signing_key(tmp_path / "junk.key")


def test_verify_key_parsing():
    key = keys.generate_signing_key()
    public = keys.load_verify_key(keys.public_key_b64(key))
    public.verify(key.sign(b"m"), b"m")
    for bad in ["", "not base64!", base64.b64encode(b"x" * 31).decode()]:
        with pytest.raises(keys.KeyMaterialError):
            keys.load_verify_key(bad)


def test_age_identity_file(tmp_path):
    secret, recipient = keys.generate_age_identity()
    assert secret.startswith("AGE-SECRET-KEY-1") and recipient.startswith("age1")
    assert keys.age_recipient_of(secret) == recipient
    path = tmp_path / "office.age"
    keys.write_secret_file(path, f"# public key: {recipient}\n{secret}\n".encode(), overwrite=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_age_identity(path) == secret
    with pytest.raises(keys.KeyFileExists):
        keys.write_secret_file(path, b"other", overwrite=False)
    path.write_text("AGE-SECRET-KEY-1BROKEN\n")
    with pytest.raises(keys.KeyMaterialError, match="age secret key"):
        keys.load_age_identity(path)


@pytest.fixture(scope="module")
def office_key():
    return keys.generate_signing_key()


def receipt(office_key, **over):
    made = receipts.sign_receipt(packet_id=PID, sha256=SHA, received_at=datetime(2026, 11, 29, 9, tzinfo=UTC),
                                 office_key=office_key)
    return {**made, **over}


def test_receipt_round_trip(office_key):
    made = receipt(office_key)
    assert made["schema"] == "jemput.receipt/1" and made["received_at"] == "2026-11-29T09:00:00.000000Z"
    receipts.verify_receipt(made, office_key=office_key.public_key(), packet_id=PID, sha256=SHA)
    body = {k: v for k, v in made.items() if k != "signature"}
    canonical = b'{"packet_id":"%s","received_at":"%s","schema":"jemput.receipt/1","sha256":"%s"}' % (
        PID.encode(), body["received_at"].encode(), SHA.encode())
    assert receipts.signing_input(made) == canonical
    office_key.public_key().verify(base64.b64decode(made["signature"]), canonical)


@pytest.mark.parametrize("change, reason", [
    ({"packet_id": "01935c6e-7f00-7000-8000-000000000002"}, "not 01935c6e"),
    ({"sha256": "cd" * 32}, "different packet bytes"),
    ({"received_at": "2020-01-01T00:00:00.000000Z"}, "does not verify"),
    ({"schema": "jemput.receipt/2"}, "schema"),
    ({"signature": "%%%"}, "not base64"),
    ({"extra": "1"}, "exactly the fields"),
])
def test_receipt_tampering(office_key, change, reason):
    bad = receipt(office_key, **change)
    expect_id = PID if "packet_id" in change else bad["packet_id"]
    expect_sha = SHA if "sha256" in change else bad["sha256"]
    with pytest.raises(ReceiptError, match=reason):
        receipts.verify_receipt(bad, office_key=office_key.public_key(), packet_id=expect_id, sha256=expect_sha)


def test_receipt_from_another_key_or_not_a_receipt(office_key):
    with pytest.raises(ReceiptError, match="does not verify"):
        receipts.verify_receipt(receipt(keys.generate_signing_key()), office_key=office_key.public_key(),
                                packet_id=PID, sha256=SHA)
    for junk in [None, "ok", [], {"status": "ok"}, {**receipt(office_key), "packet_id": 5}]:
        with pytest.raises(ReceiptError):
            receipts.verify_receipt(junk, office_key=office_key.public_key(), packet_id=PID, sha256=SHA)
