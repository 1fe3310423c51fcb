"""Link test fixtures: a real Mosquitto on a free port with the config our generator writes, and MQTT helpers."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Test modules import link_broker / link_helpers / proxy from this folder (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))

from link_broker import MOSQUITTO, OBSERVERS, STATIONS, Broker, Listener, free_port, wait_for  # noqa: E402

__all__ = ["MOSQUITTO", "STATIONS", "Broker", "Listener", "free_port", "wait_for"]   # bench/office_ingest.py


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def office_listener(broker: Broker) -> Iterator[Listener]:
    listener = Listener(broker.port, OBSERVERS[0], broker.passwords[OBSERVERS[0]])
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def office_keys() -> tuple[Ed25519PrivateKey, str]:
    """The office signing key and its public half as the station config carries it (base64 raw)."""
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, base64.b64encode(raw).decode()
