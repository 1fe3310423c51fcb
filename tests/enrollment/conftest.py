"""Fixtures for the enrollment, outbox and runtime tests: a real store in a temp dir, real keys, real sealing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from station import store
from station.enrollment import EnrollmentService
from station.events import EventBus
from station.keys import generate_age_identity, generate_signing_key
from station.outbox import Outbox

sys.path.insert(0, str(Path(__file__).parent))

from helpers import ensure_operator, ensure_session  # noqa: E402


@pytest.fixture(scope="session")
def office_identity() -> tuple[str, str]:
    """(age secret, recipient)."""
    return generate_age_identity()


@pytest.fixture(scope="session")
def biometrics_identity() -> tuple[str, str]:
    """The office's second identity (age secret, recipient): biometric parts are sealed to it alone."""
    return generate_age_identity()


@pytest.fixture(scope="session")
def signing_key():
    return generate_signing_key()


@pytest.fixture
def conn(data_dir: Path):
    connection = store.connect(data_dir)
    yield connection
    connection.close()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def outbox(conn, data_dir: Path) -> Outbox:
    return Outbox(conn, data_dir / "packets")


@pytest.fixture
def service(conn, outbox, bus, office_identity, signing_key) -> EnrollmentService:
    return EnrollmentService(conn, station_id="kph-01", recipient=office_identity[1], signing_key=signing_key,
                             outbox=outbox, bus=bus, software_version="test", disk_free_bytes=lambda: 10**12)


@pytest.fixture
def operator(conn):
    return ensure_operator(conn)


@pytest.fixture
def session_id(conn, operator) -> str:
    return ensure_session(conn, operator)
