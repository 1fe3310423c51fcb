"""`jemput office init / add-station / run`, the office config, and start-up recovery of staging."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from office import db, stations
from office.config import load_office_config, office_config_from_dict
from office.keys import load_office_keys
from office.server import OfficeServer
from station import keys
from station.cli import main
from station.errors import ConfigError

from .conftest import office_config


def write_config(tmp_path: Path, port: int = 0) -> Path:
    path = tmp_path / "office.toml"
    path.write_text(f'[office]\ndistrict = "6106"\ndata_dir = "{tmp_path / "data"}"\nport = {port}\n')
    return path


def test_init_creates_0600_keys_and_refuses_to_overwrite(tmp_path, capsys):
    config_path = write_config(tmp_path)
    assert main(["office", "init", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    keys_dir = tmp_path / "data" / "keys"
    files = sorted(keys_dir.iterdir())
    assert [p.name for p in files] == ["biometrics.age", "biometrics.pub", "office-signing.key", "records.age"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    loaded = load_office_keys(keys_dir)
    assert f'public_key = "{loaded.recipient}"' in out and f'verify_key = "{loaded.verify_key_b64}"' in out
    assert f'biometrics_key = "{loaded.biometrics_recipient}"' in out
    assert loaded.biometrics_recipient != loaded.recipient and loaded.biometrics_identity is None
    assert loaded.age_identity not in out and "AGE-SECRET-KEY" not in out
    before = {p.name: p.read_bytes() for p in files}
    assert main(["office", "init", "--config", str(config_path)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == before


def test_add_station_prints_the_token_once(tmp_path, capsys):
    config_path = write_config(tmp_path)
    station_key = keys.generate_signing_key()
    key_file = tmp_path / "station.pub"
    key_file.write_text(keys.public_key_b64(station_key) + "\n")
    args = ["office", "add-station", "kph-01", "--public-key", str(key_file), "--district", "6106",
            "--config", str(config_path)]
    assert main(args) == 0
    token = capsys.readouterr().out.rsplit('token = "', 1)[1].split('"')[0]
    engine = db.open_db(load_office_config(config_path).database_url)
    try:
        record = stations.station_for_token(engine, token)
        assert record is not None and record.public_key_b64 == keys.public_key_b64(station_key)
    finally:
        engine.dispose()
    assert main(args) == 1
    assert "already registered" in capsys.readouterr().err
    bad = ["office", "add-station", "kph-02", "--public-key", "bm90IGEga2V5", "--district", "6106",
           "--config", str(config_path)]
    assert main(bad) == 1
    assert "32 bytes" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_office_run_serves_and_stops_on_sigterm(tmp_path):
    port = free_port()
    config_path = write_config(tmp_path, port)
    assert main(["office", "init", "--config", str(config_path)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "station.cli", "office", "run", "--config", str(config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2])
    try:
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline and status is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("OPTIONS", "/api/v1/uploads")
                status = conn.getresponse().status
                conn.close()
            except OSError:
                assert proc.poll() is None, proc.communicate(timeout=5)
                time.sleep(0.1)
        assert status == 204
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert b"Office stopped." in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_config_is_strict(tmp_path):
    with pytest.raises(ConfigError, match="office.colour"):
        office_config_from_dict({"office": {"district": "6106", "colour": "red"}})
    with pytest.raises(ConfigError, match="missing required key 'office.district'"):
        office_config_from_dict({"office": {}})
    with pytest.raises(ConfigError, match="office.port' must be an integer"):
        office_config_from_dict({"office": {"district": "6106", "port": "80"}})
    with pytest.raises(ConfigError, match="office.district"):
        office_config_from_dict({"office": {"district": "61"}})
    with pytest.raises(ConfigError, match="not found"):
        load_office_config(tmp_path / "missing.toml")
    config = office_config_from_dict({"office": {"district": "6106", "data_dir": str(tmp_path)},
                                      "mqtt": {"host": "localhost", "tls": False}})
    assert config.office.host == "127.0.0.1" and config.office.port == 8090
    assert config.database_url == f"sqlite:///{tmp_path / 'office.db'}"
    assert config.max_upload_bytes == 64 * 1024 * 1024 and config.mqtt.port == 8883


def test_restart_keeps_open_uploads_and_drops_orphans(tmp_path):
    """After a crash: a resumable upload survives a restart, a stray staging file does not."""
    from office.keys import init_office_keys

    config = office_config(tmp_path / "office")
    office_keys = init_office_keys(config.keys_dir)
    engine = db.open_db(config.database_url)
    station_key = keys.generate_signing_key()
    stations.register_station(engine, "kph-01", keys.public_key_b64(station_key), "6106")
    db.create_upload(engine, upload_id="a" * 32, station_id="kph-01", packet_id="p", length_bytes=10, meta={})
    db.create_upload(engine, upload_id="b" * 32, station_id="kph-01", packet_id="q", length_bytes=10, meta={})
    config.staging_dir.mkdir(parents=True)
    (config.staging_dir / ("a" * 32 + ".part")).write_bytes(b"12345")
    (config.staging_dir / "stray.part").write_bytes(b"x")
    server = OfficeServer(config, engine, office_keys)
    try:
        assert sorted(os.listdir(config.staging_dir)) == ["a" * 32 + ".part"]
        assert db.get_upload(engine, "a" * 32).completed_at is None
        assert db.get_upload(engine, "b" * 32).result == "lost"
    finally:
        server.stop()
        engine.dispose()
