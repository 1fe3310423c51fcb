"""``jemput demo``: a district office, a Mosquitto broker and simulated stations, all on loopback.

Everything lives in one folder (``./demo-data`` by default) and is reused on the next run, so records made in one
demo are still there in the next. The office keys, the station keys and registrations, the upload tokens, the
broker passwords and the dashboard's admin password are created on the first run exactly as a real deployment
would create them, and the configs are written as ordinary TOML files, so ``jemput station run --config
demo-data/station.toml --simulate`` works too. The first station runs inside the demo process; the others are
real ``jemput station run --simulate`` processes with their own broker credentials, so the dashboard has a small
fleet to show (one with a session open in Pala Pulau). When everything answers, ``demo.json`` (DESIGN §13) is
written. Only loopback addresses are used.
"""

from __future__ import annotations

import getpass
import json
import logging
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import click

from office.config import load_office_config
from office.db import open_db
from office.keys import SIGNING_KEY_FILE, init_office_keys, load_office_keys
from office.mosquitto import OFFICE_USER, generate_config
from office.server import OfficeServer
from office.stations import get_station, register_station
from station import keys
from station.config import load_config
from station.demo_data import describe, seed_demo
from station.runtime import build_station, init_station

log = logging.getLogger("jemput.demo")

STATION_ID = "demo-01"
DISTRICT = "6106"
MOSQUITTO = Path("/usr/sbin/mosquitto")
OFFICE_ADMIN = "admin"
SESSION_DESA = "61.06.01.2004"
"""Pala Pulau (kecamatan Putussibau Utara): where the second demo station has a session open."""
LABELS = {"demo-01": "Simulasi · Tim Putussibau", "demo-02": "Simulasi · Tim Pala Pulau",
          "demo-03": "Simulasi · Tim cadangan"}


def station_ids(count: int) -> list[str]:
    return [f"demo-{i:02d}" for i in range(1, count + 1)]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port(preferred: int) -> int:
    if _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _office_toml(root: Path, *, office_port: int, mqtt_port: int, mqtt_password: str) -> Path:
    """The office's TOML file (rewritten each run: ports may differ); 0600, it holds the broker password."""
    office_toml = root / "office.toml"
    keys.write_secret_file(office_toml, (
        f'[office]\ndistrict = "{DISTRICT}"\ndata_dir = "{root / "office"}"\nhost = "127.0.0.1"\n'
        f"port = {office_port}\nthreads = 24\nlocation_lat = 0.8363\nlocation_lng = 112.9311\n\n"
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\ntls = false\nusername = "{OFFICE_USER}"\n'
        f'password = "{mqtt_password}"\nkeepalive = 10\n'
    ).encode())
    return office_toml


def _station_dir(root: Path, station_id: str) -> Path:
    return root / ("station" if station_id == STATION_ID else f"station-{station_id.removeprefix('demo-')}")


def _station_toml(path: Path, root: Path, *, ui_port: int, office_port: int, mqtt_port: int,
                  recipient: str, verify_key: str, station_id: str = STATION_ID, biometrics_key: str = "") -> None:
    data = _station_dir(root, station_id)
    path.write_text(
        f'[station]\nid = "{station_id}"\ndistrict = "{DISTRICT}"\ndata_dir = "{data}"\n\n'
        f'[ui]\nhost = "127.0.0.1"\nport = {ui_port}\n\n'
        f'[office]\nurl = "http://127.0.0.1:{office_port}"\npublic_key = "{recipient}"\n'
        f'biometrics_key = "{biometrics_key}"\n'
        f'verify_key = "{verify_key}"\ntoken = "@{data / "keys" / "upload-token"}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nkeepalive = 10\nstatus_interval_s = 30\n\n'
        f'[devices.camera]\nbackend = "synthetic"\n',
        encoding="utf-8",
    )


class Broker:
    """Mosquitto with the generated per-station ACL, as a child process."""

    def __init__(self, root: Path, port: int, stations: list[str]) -> None:
        self.dir = root / "broker"
        self.port = port
        self.stations = stations
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, str]:
        if not MOSQUITTO.exists():
            raise click.ClickException(f"{MOSQUITTO} not found: install the Debian package 'mosquitto'")
        known = {}
        cred_dir = self.dir / "credentials"
        for user in (OFFICE_USER, *self.stations):
            if (cred_dir / user).exists():
                known[user] = (cred_dir / user).read_text(encoding="utf-8").strip()
        passwords = generate_config(self.dir, port=self.port, bind="127.0.0.1", users=self.stations,
                                    passwords=known, run_as_user=getpass.getuser(), district=DISTRICT)
        log_file = open(self.dir / "mosquitto.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([str(MOSQUITTO), "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=log_file, stderr=log_file)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise click.ClickException(f"mosquitto exited; see {self.dir / 'mosquitto.log'}")
            if not _port_free(self.port):
                return passwords
            time.sleep(0.1)
        raise click.ClickException("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class StationProcess:
    """A further simulated station: ``jemput station run --simulate`` as a child process."""

    def __init__(self, station_id: str, config_path: Path, ui_port: int, log_path: Path) -> None:
        self.id, self.config_path, self.ui_port, self.log_path = station_id, config_path, ui_port, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StationProcess:
        jemput = Path(sys.executable).parent / "jemput"
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([str(jemput), "station", "run", "--config", str(self.config_path),
                                      "--simulate"], stdout=log_file, stderr=log_file)
        return self

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise click.ClickException(f"station {self.id} exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/login", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise click.ClickException(f"station {self.id} did not answer within {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _prepare_office(office_toml: Path) -> tuple[Any, Any, Any]:
    config = load_office_config(office_toml)
    if not (config.keys_dir / SIGNING_KEY_FILE).exists():
        init_office_keys(config.keys_dir)
    office_keys = load_office_keys(config.keys_dir)
    engine = open_db(config.database_url)
    from office.alerts import create_alert_tables

    create_alert_tables(engine)   # the dashboard's tables (users, profiles) before the demo fills them
    from office.demo_reference import load_demo_reference

    load_demo_reference(engine, config.office.district)   # names, boundaries, MADE-UP targets and residents
    return config, office_keys, engine


def _register(engine: Any, root: Path, station_public_b64: str, station_id: str = STATION_ID) -> None:
    token_file = _station_dir(root, station_id) / "keys" / "upload-token"
    if get_station(engine, station_id) is not None and token_file.exists():
        return
    if get_station(engine, station_id) is None:
        token = register_station(engine, station_id, station_public_b64, DISTRICT)
    else:  # registered but the token file was lost: issue a new one
        from office.stations import rotate_token

        token = rotate_token(engine, station_id)
    keys.write_secret_file(token_file, (token + "\n").encode())


def _office_admin_password(engine: Any, root: Path) -> str:
    """The dashboard's demo admin: made on the first run with a random password kept 0600 in the demo folder."""
    from office import users

    path = root / "office-admin-password"
    if path.exists() and users.get_user(engine, OFFICE_ADMIN) is not None:
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(12)
    if users.get_user(engine, OFFICE_ADMIN) is None:
        users.add_user(engine, OFFICE_ADMIN, password, "admin", actor="demo")
    else:
        users.set_password(engine, OFFICE_ADMIN, password, actor="demo")
    keys.write_secret_file(path, (password + "\n").encode())
    return password


def _prepare_station(engine: Any, root: Path, station_id: str, config_path: Path, password: str,
                     session_desa: str | None) -> Any:
    """Keys, registration, broker password, demo operator and roster (and a session when asked), as provisioning
    would leave a station; returns its config."""
    from office.fleet import set_profile
    from station import store
    from station.operators import list_operators
    from station.sessions import current_session, open_session

    config = load_config(config_path)
    public_b64, _ = init_station(config)
    _register(engine, root, public_b64, station_id)
    set_profile(engine, station_id, label=LABELS.get(station_id, "Simulasi"), simulated=True)
    keys.write_secret_file(config.station.data_dir / "keys" / "mqtt-password", (password + "\n").encode())
    if station_id != STATION_ID:
        conn = store.connect(config.station.data_dir)
        try:
            seed_demo(conn, DISTRICT)
            if session_desa and current_session(conn) is None:
                open_session(conn, session_desa, list_operators(conn)[0])
        finally:
            conn.close()
    return config


@click.command("demo")
@click.option("--dir", "root", default="demo-data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for all demo state (reused).")
@click.option("--port", "ui_port", default=8080, show_default=True, help="Kiosk UI port on 127.0.0.1.")
@click.option("--office-port", type=int, default=None, help="Office port (default: 8090, or any free one).")
@click.option("--mqtt-port", type=int, default=None, help="Broker port (default: 1883, or any free one).")
@click.option("--stations", "station_count", default=3, show_default=True, type=click.IntRange(1, 3),
              help="Simulated stations (the first runs in this process, the others as their own processes).")
@click.option("--reset", is_flag=True, help="Delete the demo folder first and start from nothing.")
def demo_command(root: Path, ui_port: int, office_port: int | None, mqtt_port: int | None, station_count: int,
                 reset: bool) -> None:
    """Office + broker + simulated stations on loopback; prints the URLs and logins, writes demo.json.
    Ctrl-C stops everything."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = root.resolve()
    if reset and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "demo.json").unlink(missing_ok=True)      # written again once everything answers
    for name, port in (("--port", ui_port), ("--office-port", office_port), ("--mqtt-port", mqtt_port)):
        if port is not None and not _port_free(port):
            raise click.ClickException(f"port {port} on 127.0.0.1 is in use (another demo running?); use {name}")
    office_port = office_port or _pick_port(8090)
    mqtt_port = mqtt_port or _pick_port(1883)
    ids = station_ids(station_count)
    stop_event = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop_event.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    broker = Broker(root, mqtt_port, ids)
    parts: list[Any] = []
    engine = None
    try:
        passwords = broker.start()
        office_toml = _office_toml(root, office_port=office_port, mqtt_port=mqtt_port,
                                   mqtt_password=passwords[OFFICE_USER])
        office_config, office_keys, engine = _prepare_office(office_toml)
        admin_password = _office_admin_password(engine, root)
        configs: dict[str, Path] = {}
        ui_ports = {STATION_ID: ui_port}
        for sid in ids:
            configs[sid] = root / ("station.toml" if sid == STATION_ID else f"{sid}.toml")
            if sid != STATION_ID:
                ui_ports[sid] = _pick_port(ui_port + int(sid[-2:]) - 1)
            _station_toml(configs[sid], root, ui_port=ui_ports[sid], office_port=office_port, mqtt_port=mqtt_port,
                          recipient=office_keys.recipient, verify_key=office_keys.verify_key_b64, station_id=sid,
                          biometrics_key=office_keys.biometrics_recipient)
        station_configs = {sid: _prepare_station(engine, root, sid, configs[sid], passwords[sid],
                                                 SESSION_DESA if sid == "demo-02" else None) for sid in ids}
        server = OfficeServer(office_config, engine, office_keys).start()
        parts.append(server)
        ingest = _start_ingest(office_config, engine)
        parts.append(ingest)
        from office.web import attach_ingest

        attach_ingest(server.app, ingest)
        others = [StationProcess(sid, configs[sid], ui_ports[sid], root / f"{sid}.log").start()
                  for sid in ids if sid != STATION_ID]
        parts.extend(others)
        station = build_station(station_configs[STATION_ID], simulate=True)
        parts.append(station)
        from office.demo_reference import demo_station_roster

        with station.db_lock:
            info = seed_demo(station.conn, DISTRICT, roster_text=demo_station_roster(engine))
        station.start()
        from station.cli_station import start_frontends

        frontends = start_frontends(station)
        parts.extend(handle for _name, handle in frontends)
        sim_token = next((h.app.extensions.get("jemput_sim_token") for _n, h in frontends if hasattr(h, "app")),
                         None)   # a kiosk that guards its simulator prints a token link; so does the demo
        for other in others:
            other.wait_ready()
        demo = _demo_json(root, ui_port=ui_port, office_url=server.url, mqtt_port=mqtt_port,
                          admin_password=admin_password, configs=configs, office_toml=office_toml, info=info,
                          sim_token=sim_token)
        _print_banner(demo, root, info, ui_ports)
        while not stop_event.wait(1.0):
            pass
    finally:
        for part in reversed(parts):
            try:
                part.stop()
            except Exception:  # noqa: BLE001 - stop the rest regardless
                log.exception("stopping %s failed", type(part).__name__)
        broker.stop()
        if engine is not None:
            engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("demo stopped")


def _start_ingest(office_config: Any, engine: Any) -> Any:
    from office.ingest import Ingest

    ingest = Ingest(office_config, engine)
    ingest.start()
    return ingest


def _demo_json(root: Path, *, ui_port: int, office_url: str, mqtt_port: int, admin_password: str,
               configs: dict[str, Path], office_toml: Path, info: Any, sim_token: str | None = None
               ) -> dict[str, Any]:
    """Write ``demo.json`` (DESIGN §13) atomically; it holds the admin password, so 0600."""
    from station.demo_data import DEMO_PIN, DEMO_USERNAME, demo_roster_csv

    niks = list(info.sample_niks) if info is not None else [
        line.split(",")[0] for line in demo_roster_csv(DISTRICT).splitlines()[1:4]]
    demo = {
        "kiosk_url": f"http://127.0.0.1:{ui_port}/",
        "sim_url": f"http://127.0.0.1:{ui_port}/sim" + (f"?token={sim_token}" if sim_token else ""),
        "office_url": office_url,
        "dashboard_url": office_url + "/",
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "operator": {"name": DEMO_USERNAME, "pin": DEMO_PIN},
        "office_admin": {"username": OFFICE_ADMIN, "password": admin_password},
        "sample_niks": niks,
        "station_configs": [str(path) for path in configs.values()],
        "office_config": str(office_toml),
    }
    keys.write_secret_file(root / "demo.json", (json.dumps(demo, indent=2) + "\n").encode())
    return demo


def _print_banner(demo: dict[str, Any], root: Path, info: Any, ui_ports: dict[str, int]) -> None:
    lines = [
        "",
        "Jemput demo is running (Ctrl-C stops it):",
        f"  kiosk (station UI):  {demo['kiosk_url']}",
        f"  simulator panel:     {demo['sim_url']}",
        f"  office dashboard:    {demo['dashboard_url']}  (log in: {demo['office_admin']['username']} / "
        f"{demo['office_admin']['password']})",
        f"  office receiver:     {demo['office_url']}/api/v1/uploads",
        f"  MQTT broker:         127.0.0.1:{demo['mqtt']['port']} (topics jemput/v1/{DISTRICT}/<station>/#)",
    ]
    for sid, port in ui_ports.items():
        if sid != STATION_ID:
            lines.append(f"  simulated {sid}:    http://127.0.0.1:{port}/  (simulator /sim)")
    lines.append(f"  state and configs:   {root} (demo.json has all of this)")
    if info is not None:
        lines.append("  " + describe(info).replace("\n", "\n  "))
    else:
        lines.append("  demo operator: demo / PIN 123456 (store kept from an earlier run)")
    click.echo("\n".join(lines) + "\n")
