"""Provisioning test helpers: an office made by `jemput office init` and served for real, its files, a root image,
packets queued in an installed station. Bundles are made and applied through the real CLI (`station.cli.main`),
as an office clerk and a technician would."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent / "link"))

from link_broker import free_port  # noqa: E402
from link_office import queue_packets  # noqa: E402

from office.config import OfficeConfig, load_office_config  # noqa: E402
from office.db import open_db  # noqa: E402
from office.keys import OfficeKeys, load_office_keys  # noqa: E402
from office.server import OfficeServer  # noqa: E402
from station import keys  # noqa: E402
from station.cli import main  # noqa: E402
from station.demo_data import demo_roster_csv, demo_villages  # noqa: E402

PASSPHRASE = "kapuas hulu 2026"
OPERATORS_CSV = "username,name,role,pin\nsiti,Siti Aminah,operator,246810\nbudi,Budi Santoso,supervisor,135790\n"
DESA = demo_villages("6106")[:2]

__all__ = ["DESA", "PASSPHRASE", "ProvOffice", "free_port", "queue_station_packets", "start_office", "tree_state"]


@dataclass
class ProvOffice:
    config_path: Path
    config: OfficeConfig
    keys: OfficeKeys
    server: OfficeServer
    engine: Any
    files: Path

    def bundle(self, out: Path, *args: str, station: str = "kph-07", ui_port: int | None = None,
               desa: tuple[str, ...] = DESA, extra_toml: str = "") -> Path:
        extra = self.files / f"{station}-station.toml"
        extra.write_text(f'[ui]\nport = {ui_port or free_port()}\n[devices.camera]\nbackend = "synthetic"\n'
                         + extra_toml)
        argv = ["provision", "bundle", "--config", str(self.config_path), "--station", station,
                "--desa", ",".join(desa), "--operators", str(self.files / "operators.csv"),
                "--roster", str(self.files / "roster.csv"), "--station-toml", str(extra),
                "--passphrase-file", str(self.files / "passphrase"), "--out", str(out), *args]
        assert main(argv) == 0
        return out


def start_office(tmp_path: Path, district: str = "6106") -> ProvOffice:
    files = tmp_path / "office-files"
    files.mkdir(parents=True)
    config_path = files / "office.toml"
    base = f'[office]\ndistrict = "{district}"\ndata_dir = "{tmp_path / "office-data"}"\nport = 0\n'
    config_path.write_text(base)
    assert main(["office", "init", "--config", str(config_path)]) == 0
    config = load_office_config(config_path)
    office_keys = load_office_keys(config.keys_dir)
    engine = open_db(config.database_url)
    server = OfficeServer(config, engine, office_keys).start()
    config_path.write_text(base + f'[provisioning]\noffice_url = "{server.url}"\n')
    (files / "operators.csv").write_text(OPERATORS_CSV)
    (files / "roster.csv").write_text(demo_roster_csv(district, per_village=5))
    (files / "passphrase").write_text(PASSPHRASE + "\n")
    return ProvOffice(config_path, load_office_config(config_path), office_keys, server, engine, files)


def queue_station_packets(office: ProvOffice, root: Path, count: int, *, station: str = "kph-07",
                          first_nik: int = 0) -> list[str]:
    """Real sealed packets, signed with the key apply installed, queued in the installed station's outbox."""
    data_dir = root / "var" / "lib" / "jemput"
    signing_key = keys.load_signing_key(data_dir / "keys" / "station.key")
    shim = types.SimpleNamespace(keys=office.keys, station_key=signing_key)
    return queue_packets(shim, data_dir, count, photo_bytes=6000, station=station, first_nik=first_nik,
                         signing_key=signing_key)


def tree_state(root: Path) -> dict[str, tuple]:
    """Every path under root with type, mode, owner, mtime and content hash (SQLite's -wal/-shm excluded)."""
    state: dict[str, tuple] = {}
    if not root.exists():
        return state
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if name.endswith(("-wal", "-shm")):
                continue
            st = path.lstat()
            digest = ""
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = os.readlink(path)
            mtime = st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0
            state[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                                  st.st_gid, mtime, digest)
    return state
