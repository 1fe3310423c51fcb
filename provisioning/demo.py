"""``jemput demo``: a district office, a Mosquitto broker and one simulated station, all on loopback.

Everything lives in one folder (``./demo-data`` by default) and is reused on the next run, so records made in one
demo are still there in the next. The office keys, the station key and registration, the upload token and the
broker passwords are created on the first run exactly as a real deployment would create them, and the configs
are written as ordinary TOML files, so ``jemput station run --config demo-data/station.toml --simulate`` works
too. Only loopback addresses are used.
"""

from __future__ import annotations

import getpass
import logging
import shutil
import signal
import socket
import subprocess
import threading
import time
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
        f"port = {office_port}\nlocation_lat = 0.8363\nlocation_lng = 112.9311\n\n"
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\ntls = false\nusername = "{OFFICE_USER}"\n'
        f'password = "{mqtt_password}"\nkeepalive = 10\n'
    ).encode())
    return office_toml


def _station_toml(path: Path, root: Path, *, ui_port: int, office_port: int, mqtt_port: int,
                  recipient: str, verify_key: str, biometrics_key: str = "") -> None:
    path.write_text(
        f'[station]\nid = "{STATION_ID}"\ndistrict = "{DISTRICT}"\ndata_dir = "{root / "station"}"\n\n'
        f'[ui]\nhost = "127.0.0.1"\nport = {ui_port}\n\n'
        f'[office]\nurl = "http://127.0.0.1:{office_port}"\npublic_key = "{recipient}"\n'
        f'biometrics_key = "{biometrics_key}"\n'
        f'verify_key = "{verify_key}"\ntoken = "@{root / "station" / "keys" / "upload-token"}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nkeepalive = 10\nstatus_interval_s = 30\n\n'
        f'[devices.camera]\nbackend = "synthetic"\n',
        encoding="utf-8",
    )


class Broker:
    """Mosquitto with the generated per-station ACL, as a child process."""

    def __init__(self, root: Path, port: int) -> None:
        self.dir = root / "broker"
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, str]:
        if not MOSQUITTO.exists():
            raise click.ClickException(f"{MOSQUITTO} not found: install the Debian package 'mosquitto'")
        known = {}
        cred_dir = self.dir / "credentials"
        for user in (OFFICE_USER, STATION_ID):
            if (cred_dir / user).exists():
                known[user] = (cred_dir / user).read_text(encoding="utf-8").strip()
        passwords = generate_config(self.dir, port=self.port, bind="127.0.0.1", users=[STATION_ID],
                                    passwords=known, run_as_user=getpass.getuser())
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


def _prepare_office(office_toml: Path) -> tuple[Any, Any, Any]:
    config = load_office_config(office_toml)
    if not (config.keys_dir / SIGNING_KEY_FILE).exists():
        init_office_keys(config.keys_dir)
    office_keys = load_office_keys(config.keys_dir)
    engine = open_db(config.database_url)
    from office.demo_reference import load_demo_reference

    load_demo_reference(engine, config.office.district)   # names, boundaries, MADE-UP targets and residents
    return config, office_keys, engine


def _register(engine: Any, root: Path, station_public_b64: str) -> None:
    token_file = root / "station" / "keys" / "upload-token"
    if get_station(engine, STATION_ID) is not None and token_file.exists():
        return
    if get_station(engine, STATION_ID) is None:
        token = register_station(engine, STATION_ID, station_public_b64, DISTRICT)
    else:  # registered but the token file was lost: issue a new one
        from office.stations import rotate_token

        token = rotate_token(engine, STATION_ID)
    keys.write_secret_file(token_file, (token + "\n").encode())


@click.command("demo")
@click.option("--dir", "root", default="demo-data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for all demo state (reused).")
@click.option("--port", "ui_port", default=8080, show_default=True, help="Kiosk UI port on 127.0.0.1.")
@click.option("--reset", is_flag=True, help="Delete the demo folder first and start from nothing.")
def demo_command(root: Path, ui_port: int, reset: bool) -> None:
    """Office + broker + one simulated station on loopback; prints the URLs. Ctrl-C stops everything."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = root.resolve()
    if reset and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    if not _port_free(ui_port):
        raise click.ClickException(f"port {ui_port} on 127.0.0.1 is in use (another demo running?); use --port")
    office_port, mqtt_port = _pick_port(8090), _pick_port(1883)
    stop_event = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop_event.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    broker = Broker(root, mqtt_port)
    parts: list[Any] = []
    engine = None
    try:
        passwords = broker.start()
        office_toml = _office_toml(root, office_port=office_port, mqtt_port=mqtt_port,
                                   mqtt_password=passwords[OFFICE_USER])
        office_config, office_keys, engine = _prepare_office(office_toml)
        station_toml = root / "station.toml"
        _station_toml(station_toml, root, ui_port=ui_port, office_port=office_port, mqtt_port=mqtt_port,
                      recipient=office_keys.recipient, verify_key=office_keys.verify_key_b64,
                      biometrics_key=office_keys.biometrics_recipient)
        station_config = load_config(station_toml)
        public_b64, _ = init_station(station_config)
        _register(engine, root, public_b64)
        keys.write_secret_file(station_config.station.data_dir / "keys" / "mqtt-password",
                               (passwords[STATION_ID] + "\n").encode())
        parts.append(OfficeServer(office_config, engine, office_keys).start())
        parts.append(_start_ingest(office_config, engine))
        station = build_station(station_config, simulate=True)
        parts.append(station)
        from office.demo_reference import demo_station_roster

        with station.db_lock:
            info = seed_demo(station.conn, DISTRICT, roster_text=demo_station_roster(engine))
        station.start()
        from station.cli_station import start_frontends

        parts.extend(handle for _name, handle in start_frontends(station))
        _print_banner(ui_port, office_port, mqtt_port, root, info)
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


def _print_banner(ui_port: int, office_port: int, mqtt_port: int, root: Path, info: Any) -> None:
    lines = [
        "",
        "Jemput demo is running (Ctrl-C stops it):",
        f"  kiosk (station UI):  http://127.0.0.1:{ui_port}/",
        f"  simulator panel:     http://127.0.0.1:{ui_port}/sim",
        f"  office receiver:     http://127.0.0.1:{office_port}/api/v1/uploads",
        f"  MQTT broker:         127.0.0.1:{mqtt_port} (topics jemput/v1/{DISTRICT}/{STATION_ID}/#)",
        f"  state and configs:   {root}",
    ]
    if info is not None:
        lines.append("  " + describe(info).replace("\n", "\n  "))
    else:
        lines.append("  demo operator: demo / PIN 123456 (store kept from an earlier run)")
    click.echo("\n".join(lines) + "\n")
