"""The whole flow an office and a technician go through: `office init`, `provision bundle`, `provision apply
--root`, re-provisioning with records queued, then the station starts from the applied config and uploads to the
office that made the bundle, which answers with a signed receipt."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from prov_helpers import PASSPHRASE, ProvOffice, free_port, queue_station_packets, tree_state

from office import stations
from station.cli import main
from station.config import load_config

pytestmark = pytest.mark.timeout(360)
IS_ROOT = os.geteuid() == 0


def apply(bundle: Path, root: Path, office: ProvOffice, *extra: str) -> int:
    return main(["provision", "apply", str(bundle), "--passphrase-file", str(office.files / "passphrase"),
                 "--root", str(root), *extra])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def pending_ids(root: Path) -> list[str]:
    db = root / "var/lib/jemput/jemput.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT packet_id FROM outbox WHERE state IN ('sealed', 'uploading') ORDER BY created_at")]


def still_pending(root: Path) -> bool:
    """While the running station writes, a read-only look can meet a busy database: that counts as not done."""
    try:
        return bool(pending_ids(root))
    except sqlite3.OperationalError:
        return True


def test_bundle_apply_reprovision_run_and_upload(prov_office: ProvOffice, root_image: Path, tmp_path: Path,
                                                 capsys) -> None:
    office, root = prov_office, root_image
    ui_port = free_port()
    bundle = office.bundle(tmp_path / "kph-07.jpb", ui_port=ui_port)
    out = capsys.readouterr().out
    assert "Station kph-07 registered for district 6106" in out and "Roster: 10 resident(s)" in out
    assert mode(bundle) == 0o600
    registered = stations.get_station(office.engine, "kph-07")
    assert registered is not None and registered.district == "6106"

    assert apply(bundle, root, office, "--office-key", office.keys.verify_key_b64) == 0
    etc, data = root / "etc", root / "var/lib/jemput"
    config = load_config(etc / "jemput/station.toml")           # valid, strict config
    assert config.station.id == "kph-07" and config.station.district == "6106"
    assert config.station.data_dir == data and config.ui.port == ui_port
    assert config.office.url == office.server.url and config.office.public_key == office.keys.recipient
    assert config.office.verify_key == office.keys.verify_key_b64
    assert config.office_token() and config.office.token == f"@{data}/keys/office-token"
    # the registered public key is the installed private key's
    from station import keys
    assert keys.public_key_b64(keys.load_signing_key(data / "keys/station.key")) == registered.public_key_b64
    for d in (data, data / "keys", data / "packets"):
        assert mode(d) == 0o700
    for f in ("station.key", "office-token", "mqtt-client.key", "mqtt-client.pem", "mqtt-ca.pem"):
        assert mode(data / "keys" / f) == 0o600, f
    cert = x509.load_pem_x509_certificate((data / "keys/mqtt-client.pem").read_bytes())
    assert cert.subject.rfc4514_string().startswith("CN=kph-07")
    units = etc / "systemd/system"
    for unit in ("jemput-station.service", "jemput-kiosk.service"):
        link = units / "multi-user.target.wants" / unit
        assert link.is_symlink() and os.readlink(link) == f"/etc/systemd/system/{unit}"
        assert (units / unit).read_bytes() == (Path(__file__).parents[2] / "systemd" / unit).read_bytes()
    assert "RuntimeWatchdogSec=14" in (etc / "systemd/system.conf.d/50-jemput-watchdog.conf").read_text()
    rules = (etc / "udev/rules.d/70-jemput.rules").read_text()
    assert all(f'SYMLINK+="jemput-{n}"' in rules for n in ("fingerprint", "sigpad", "printer"))
    assert mode(root / "usr/local/lib/jemput/kiosk-session") == 0o755
    if IS_ROOT:   # users made in the image's own account files, files owned by them
        passwd = {ln.split(":")[0]: ln.split(":") for ln in (etc / "passwd").read_text().splitlines()}
        uid, gid = int(passwd["jemput"][2]), int(passwd["jemput"][3])
        assert "jemput-kiosk" in passwd
        groups = {ln.split(":")[0]: ln.split(":")[3].split(",") for ln in (etc / "group").read_text().splitlines()}
        assert all("jemput" in groups[g] for g in ("dialout", "video", "i2c", "gpio"))
        for path in (data, data / "keys/station.key", data / "jemput.db"):
            assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
        assert (etc / "jemput/station.toml").stat().st_uid == 0
    # operators (hashed PINs only) and the roster are in the store
    with sqlite3.connect(data / "jemput.db") as conn:
        ops = dict(conn.execute("SELECT username, pin_hash FROM operators WHERE active = 1").fetchall())
        residents = conn.execute("SELECT COUNT(*) FROM residents").fetchone()[0]
    assert set(ops) == {"siti", "budi"} and all(h.startswith("scrypt$") for h in ops.values())
    assert residents == 10
    assert b"246810" not in bundle.read_bytes() and b"Siti" not in bundle.read_bytes()

    # records queued in the field, then re-provisioning (new token and certificate, same key): none lost
    queued = queue_station_packets(office, root, 2)
    key_before = (data / "keys/station.key").read_bytes()
    token_before = (data / "keys/office-token").read_text()
    again = office.bundle(tmp_path / "kph-07-2.jpb", "--reprovision", ui_port=ui_port)
    assert apply(again, root, office) == 0
    assert "Unsent records kept in the queue: 2." in capsys.readouterr().out
    assert pending_ids(root) == queued and all((data / "packets" / f"{p}.jpk").exists() for p in queued)
    assert (data / "keys/station.key").read_bytes() == key_before
    assert (data / "keys/office-token").read_text() != token_before

    # the station starts from the applied config and uploads to the office that made the bundle
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "station.cli", "station", "run", "--config",
                             str(etc / "jemput/station.toml"), "--simulate"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                body = json.load(urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/healthz", timeout=2))
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "station did not come up"
                time.sleep(0.3)
        assert body["ok"] is True and body["station"] == "kph-07"
        while sorted(office_packets(office)) != sorted(queued) or still_pending(root):
            assert time.monotonic() < deadline, "records were not uploaded and acknowledged"
            time.sleep(0.3)
        with sqlite3.connect(f"file:{data / 'jemput.db'}?mode=ro", uri=True) as conn:
            receipts = [json.loads(r[0]) for r in conn.execute("SELECT receipt_json FROM outbox")]
        assert len(receipts) == 2 and all(r for r in receipts)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output


def office_packets(office: ProvOffice) -> list[str]:
    import sqlalchemy as sa

    from office import db

    with office.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(db.packets.c.packet_id))]


def test_apply_twice_changes_nothing(prov_office: ProvOffice, root_image: Path, tmp_path: Path, capsys) -> None:
    bundle = prov_office.bundle(tmp_path / "b.jpb")
    assert apply(bundle, root_image, prov_office) == 0
    before = tree_state(root_image)
    capsys.readouterr()
    assert apply(bundle, root_image, prov_office) == 0
    assert "already up to date, nothing changed" in capsys.readouterr().out
    assert tree_state(root_image) == before


def test_first_bundle_for_a_registered_station_is_refused(prov_office: ProvOffice, tmp_path: Path, capsys) -> None:
    prov_office.bundle(tmp_path / "a.jpb")
    argv = ["provision", "bundle", "--config", str(prov_office.config_path), "--station", "kph-07",
            "--desa", "61.06.01.2001", "--operators", str(prov_office.files / "operators.csv"),
            "--roster", str(prov_office.files / "roster.csv"),
            "--passphrase-file", str(prov_office.files / "passphrase"), "--out", str(tmp_path / "b.jpb")]
    assert main(argv) == 1
    assert "already registered" in capsys.readouterr().err and not (tmp_path / "b.jpb").exists()
    assert PASSPHRASE
