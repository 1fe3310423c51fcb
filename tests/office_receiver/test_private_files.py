"""Office files are private (0600 files, 0700 directories) whatever the umask, and staging leftovers expire."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from office import db
from office.server import OfficeServer
from station.cli import main
from tests.office_receiver.conftest import running_office


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_office_init_and_run_leave_nothing_readable_by_other_users(tmp_path: Path, umask_022: None,
                                                                   make_packet_for) -> None:
    data = tmp_path / "office"
    config = tmp_path / "office.toml"
    config.write_text(f'[office]\ndistrict = "6106"\ndata_dir = "{data}"\nport = 0\n', encoding="utf-8")
    assert main(["office", "init", "--config", str(config)]) == 0
    assert mode(data) == 0o700 and mode(data / "office.db") == 0o600
    with running_office(tmp_path / "served") as office:          # what `office run` builds, on its own dir
        packet_id, packet = make_packet_for(office)
        created = office.create(packet, packet_id=packet_id)
        [part] = office.config.staging_dir.iterdir()
        assert mode(part) == 0o600
        office.patch(created.headers["location"], packet, 0)
        served = office.config.office.data_dir
        for directory in (served, office.config.packets_dir, office.config.staging_dir,
                          office.config.quarantine_dir, office.config.keys_dir):
            assert mode(directory) == 0o700, directory
        for name in ("office.db", "office.db-wal", "office.db-shm"):
            assert mode(served / name) == 0o600, name
        [stored] = office.config.packets_dir.iterdir()
        assert mode(stored) == 0o600


def test_an_existing_install_is_tightened_at_start(tmp_path: Path) -> None:
    with running_office(tmp_path / "office") as office:
        data = office.config.office.data_dir
        leftover = office.config.packets_dir / "old.jpk"
        leftover.write_bytes(b"x")
        for path, loose in ((data, 0o755), (office.config.packets_dir, 0o755), (leftover, 0o644),
                            (data / "office.db", 0o644)):
            os.chmod(path, loose)
        again = OfficeServer(office.config, db.open_db(office.config.database_url), office.keys)
        try:
            assert mode(data) == 0o700 and mode(office.config.packets_dir) == 0o700
            assert mode(leftover) == 0o600 and mode(data / "office.db") == 0o600
        finally:
            again.stop()


def test_an_upload_nobody_finishes_expires_and_is_cleaned_at_start(tmp_path: Path, make_packet_for) -> None:
    with running_office(tmp_path / "office") as office:
        packet_id, packet = make_packet_for(office)
        created = office.create(packet, packet_id=packet_id)    # ... and the station is killed before saving it
        assert created.status == 201 and "expiration" in office.request("OPTIONS", "/api/v1/uploads").headers[
            "tus-extension"]
        assert created.headers["upload-expires"].endswith("GMT")
        location = created.headers["location"]
        [part] = office.config.staging_dir.iterdir()
        old = time.time() - 25 * 3600                              # untouched for longer than the 24 h expiry
        os.utime(part, (old, old))
        again = OfficeServer(office.config, office.engine, office.keys)   # the office restarts
        try:
            assert list(office.config.staging_dir.iterdir()) == []
            with office.engine.connect() as conn:
                result = conn.execute(sa.select(db.uploads.c.result)).scalar_one()
            assert result == "expired"
            assert office.request("HEAD", "/" + location.split("/", 3)[3]).status == 404
        finally:
            again.stop()
