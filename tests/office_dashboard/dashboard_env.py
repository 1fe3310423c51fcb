"""A whole district on loopback for the dashboard tests: a real Mosquitto (generated config, ACL, passwords), the
real office (receiver + dashboard under waitress, the MQTT ingest, the alert engine) and real station processes
(``jemput station run --simulate``: emulated devices on ptys, the kiosk, telemetry with its last will)."""

from __future__ import annotations

import getpass
import json
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from office import stations as office_stations
from office import users
from office.config import office_config_from_dict
from office.db import open_db
from office.ingest import Ingest
from office.keys import init_office_keys
from office.mosquitto import OFFICE_USER, generate_config
from office.server import OfficeServer
from office.web import attach_ingest
from station import keys, store
from station.config import load_config
from station.demo_data import seed_demo
from station.operators import list_operators
from station.runtime import init_station
from station.sessions import open_session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "link"))
from link_broker import Broker, free_port, wait_for  # noqa: E402

JEMPUT = Path(sys.executable).parent / "jemput"
DISTRICT = "6106"
DESA = "61.06.01.2004"   # Pala Pulau, kecamatan Putussibau Utara
ADMIN = ("kepala", "admin-pass-123")
VIEWER = ("staf", "viewer-pass-123")
UNREGISTERED = "kph-99"


@dataclass
class StationProc:
    id: str
    config_path: Path
    ui_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def kiosk(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(JEMPUT), "station", "run", "--config", str(self.config_path),
                                      "--simulate"], stdout=log, stderr=log, cwd=str(ROOT))
        log.close()

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"station {self.id} exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.kiosk + "/login", timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_for(answers, 60, interval_s=0.2, what=f"kiosk of {self.id}")

    def kill(self) -> None:
        """SIGKILL: no clean disconnect, so the broker publishes the last will."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class District:
    root: Path
    broker: Broker
    config: Any
    engine: sa.Engine
    server: OfficeServer
    ingest: Ingest
    stations: dict[str, StationProc] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        for st in self.stations.values():
            st.stop()
        self.ingest.stop()
        self.server.stop()
        self.engine.dispose()
        self.broker.stop()


def _station_toml(root: Path, station_id: str, *, ui_port: int, office_url: str, mqtt_port: int, recipient: str,
                  verify_key: str, biometrics_key: str = "") -> Path:
    data = root / station_id
    path = root / f"{station_id}.toml"
    path.write_text(
        f'[station]\nid = "{station_id}"\ndistrict = "{DISTRICT}"\ndata_dir = "{data}"\n\n'
        f'[ui]\nhost = "127.0.0.1"\nport = {ui_port}\n\n'
        f'[office]\nurl = "{office_url}"\npublic_key = "{recipient}"\nverify_key = "{verify_key}"\n'
        f'biometrics_key = "{biometrics_key}"\n'
        f'token = "@{data / "keys" / "upload-token"}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nkeepalive = 2\nstatus_interval_s = 2\n\n'
        f'[devices.camera]\nbackend = "synthetic"\n', encoding="utf-8")
    return path


def start_district(root: Path, *, station_ids: tuple[str, ...] = ("kph-01", "kph-02"),
                   session_on: tuple[str, ...] = ("kph-01",), alerts: dict[str, Any] | None = None) -> District:
    broker = Broker(root / "broker")
    broker.passwords = generate_config(broker.dir, port=broker.port, users=(*station_ids, UNREGISTERED),
                                       run_as_user=getpass.getuser(), persistence=True)
    broker.start()
    config = office_config_from_dict({
        "office": {"district": DISTRICT, "data_dir": str(root / "office"), "port": 0, "threads": 16},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "tls": False, "username": OFFICE_USER,
                 "password": broker.passwords[OFFICE_USER], "keepalive": 2},
        "alerts": {"consecutive": 2, "offline_after_s": 4, "stuck_after_s": 600, "check_interval_s": 1,
                   **(alerts or {})},
        "dashboard": {"answer_wait_s": 20},
    })
    office_keys = init_office_keys(config.keys_dir)
    engine = open_db(config.database_url)
    users.add_user(engine, *ADMIN, "admin")
    users.add_user(engine, *VIEWER, "viewer")
    server = OfficeServer(config, engine, office_keys).start()
    ingest = Ingest(config, engine)
    ingest.start()
    attach_ingest(server.app, ingest)
    if not ingest.wait_connected(10):
        raise AssertionError("office ingest could not connect to the broker")
    district = District(root, broker, config, engine, server, ingest)
    for sid in station_ids:
        path = _station_toml(root, sid, ui_port=free_port(), office_url=server.url, mqtt_port=broker.port,
                             recipient=office_keys.recipient, verify_key=office_keys.verify_key_b64,
                             biometrics_key=office_keys.biometrics_recipient)
        st_config = load_config(path)
        public_b64, _ = init_station(st_config)
        token = office_stations.register_station(engine, sid, public_b64, DISTRICT)
        keys_dir = st_config.station.data_dir / "keys"
        keys.write_secret_file(keys_dir / "upload-token", (token + "\n").encode())
        keys.write_secret_file(keys_dir / "mqtt-password", (broker.passwords[sid] + "\n").encode())
        conn = store.connect(st_config.station.data_dir)
        try:
            seed_demo(conn, DISTRICT)
            if sid in session_on:
                open_session(conn, DESA, list_operators(conn)[0])
        finally:
            conn.close()
        district.stations[sid] = StationProc(sid, path, st_config.ui.port, root / f"{sid}.log")
    for st in district.stations.values():
        st.start()
    return district


def api(district: District, path: str, user: tuple[str, str] = ADMIN) -> Any:
    """GET a dashboard JSON path as ``user`` over real HTTP (log-in form, cookie, CSRF token from the page)."""
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(district.url + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"username": user[0], "password": user[1], "csrf_token": token}).encode()
    opener.open(district.url + "/login", data=body, timeout=10).read()
    with opener.open(district.url + path, timeout=10) as resp:
        return json.loads(resp.read())


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


__all__ = ["ADMIN", "DESA", "UNREGISTERED", "VIEWER", "District", "StationProc", "api", "free_port", "port_open",
           "start_district", "wait_for"]
