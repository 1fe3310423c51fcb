"""The network tile: online after a successful round (not only while uploading), offline while backing off,
unknown before any attempt; checked with the snapshot shapes the real uploader gives."""

from __future__ import annotations

from ui.status import network_online


def snapshot(state: str, *, last_error: str | None = None, bytes_sent: int = 0) -> dict:
    return {"state": state, "current": None, "chunk_bytes": 65536, "bytes_sent": bytes_sent,
            "last_error": last_error, "next_attempt_in_s": None}


def test_network_online_follows_the_uploaders_last_round() -> None:
    assert network_online({}) is None                                   # no uploader
    assert network_online(snapshot("idle")) is None                     # before any attempt
    assert network_online(snapshot("uploading", bytes_sent=10)) is True
    assert network_online(snapshot("idle", bytes_sent=4096)) is True    # idle after a successful upload
    assert network_online(snapshot("backoff", last_error="connection refused", bytes_sent=4096)) is False
    assert network_online(snapshot("idle", last_error="connection refused", bytes_sent=10)) is False
    assert network_online(snapshot("paused", bytes_sent=10)) is None
