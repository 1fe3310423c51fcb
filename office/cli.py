"""``jemput office ...``: create the office keys, register stations, run the receiver."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from office import stations
from office.ca import init_office_ca
from office.config import load_office_config
from office.db import open_db
from office.ingest import ingest_command
from office.keys import init_office_keys
from office.mosquitto import mosquitto_config_command
from office.slips import verify_slip_command
from station import keys

CONFIG_OPTION = click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
                             help="Office TOML config file.")


@click.group("office")
def office_group() -> None:
    """District office: keys, station registry, packet receiver."""


@office_group.command("init")
@CONFIG_OPTION
@click.option("--biometrics-out", type=click.Path(path_type=Path), default=None,
              help="Where to write the biometrics identity (default: <data_dir>/keys/biometrics.age). "
                   "Point it at removable media: the online office never needs it.")
def init_command(config_path: Path, biometrics_out: Path | None) -> None:
    """Create the records and biometrics identities, the Ed25519 key and the MQTT CA (0600, never overwritten),
    load the national kode wilayah list, and print the public parts stations need."""
    config = load_office_config(config_path)
    created = init_office_keys(config.keys_dir, biometrics_out)
    engine = open_db(config.database_url)
    try:
        from office.refdata import ensure_shipped_boundaries, ensure_shipped_wilayah

        ensure_shipped_wilayah(engine)
        ensure_shipped_boundaries(engine, config.office.district)
    finally:
        engine.dispose()
    for line in init_office_ca(config):
        click.echo(line)
    bio_path = biometrics_out or config.keys_dir / "biometrics.age"
    click.echo(f"Office keys written to {config.keys_dir} (mode 0600; back them up offline).")
    click.echo(f"Biometrics identity written to {bio_path}: move it to the export machine (and a backup) and")
    click.echo("delete it from this server; the online office needs only the records identity (DESIGN §5).")
    click.echo("Put these in every station's config, section [office]:")
    click.echo(f'public_key = "{created.recipient}"')
    click.echo(f'biometrics_key = "{created.biometrics_recipient}"')
    click.echo(f'verify_key = "{created.verify_key_b64}"')


def _read_public_key(value: str) -> str:
    """Base64 raw key, or a file holding one (as ``jemput station init`` prints it) or a PEM public key."""
    path = Path(value)
    text = path.read_text(encoding="ascii").strip() if len(value) < 4096 and path.is_file() else value.strip()
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise click.BadParameter("PEM key is not Ed25519", param_hint="--public-key")
        return keys.public_key_b64(key)
    return text


@office_group.command("add-station")
@click.argument("station_id")
@click.option("--public-key", "public_key", required=True, help="Station Ed25519 public key: base64, or a file.")
@click.option("--district", required=True, help="4-digit kode kabupaten/kota, e.g. 6106.")
@CONFIG_OPTION
def add_station_command(station_id: str, public_key: str, district: str, config_path: Path) -> None:
    """Register a station and print its upload token ONCE (the office keeps only a hash)."""
    config = load_office_config(config_path)
    engine = open_db(config.database_url)
    try:
        token = stations.register_station(engine, station_id, _read_public_key(public_key), district)
    finally:
        engine.dispose()
    click.echo(f"Station {station_id} registered. Its upload token is shown only now;")
    click.echo("put it in the station's config, section [office] (or a 0600 file referenced as token = \"@path\"):")
    click.echo(f'token = "{token}"')


@office_group.command("rotate-token")
@click.argument("station_id")
@CONFIG_OPTION
def rotate_token_command(station_id: str, config_path: Path) -> None:
    """Give a station a new upload token; the old one stops working at once."""
    config = load_office_config(config_path)
    engine = open_db(config.database_url)
    try:
        token = stations.rotate_token(engine, station_id)
    finally:
        engine.dispose()
    click.echo(f'token = "{token}"')


@office_group.command("list-stations")
@CONFIG_OPTION
def list_stations_command(config_path: Path) -> None:
    """Registered stations with district and state."""
    config = load_office_config(config_path)
    engine = open_db(config.database_url)
    try:
        for record in stations.list_stations(engine):
            state = "active" if record.active else "disabled"
            click.echo(f"{record.id}\t{record.district}\t{state}\t{record.public_key_b64}")
    finally:
        engine.dispose()


@office_group.command("run")
@CONFIG_OPTION
def run_command(config_path: Path) -> None:
    """Serve the receiver (and MQTT ingest if [mqtt] host is set) until SIGTERM or Ctrl-C."""
    from office.server import run_office

    config = load_office_config(config_path)
    if (config.keys_dir / "biometrics.age").exists():
        click.echo(f"warning: {config.keys_dir / 'biometrics.age'} is on this server; the online office never "
                   "needs it (move it to the export machine, DESIGN §5)", err=True)
    stop_event = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_event.set())
    run_office(config, stop_event=stop_event)
    click.echo("Office stopped.")


office_group.add_command(ingest_command)
office_group.add_command(mosquitto_config_command)


def _add_dashboard_commands() -> None:
    from office.cli_users import audit_group, user_group

    office_group.add_command(user_group)
    office_group.add_command(audit_group)


_add_dashboard_commands()


def _register_data_commands() -> None:
    from office.cli_data import register

    register(office_group)


_register_data_commands()


@office_group.command("ca-init")
@CONFIG_OPTION
def ca_init_command(config_path: Path) -> None:
    """Create only the MQTT CA and broker certificate (an office whose keys predate the CA)."""
    for line in init_office_ca(load_office_config(config_path)):
        click.echo(line)


office_group.add_command(verify_slip_command)
