"""Checking a resident's slip (bukti perekaman) at the office: is it genuine, and has its record arrived?

The slip's QR carries a claim signed by the station (``station.slips``). Genuine means the station is registered
here and its Ed25519 key verifies the signature; the record code is then checked against the packet id (the code
is derived from it) and the packet looked up among those received. A slip can be genuine before its record has
arrived: the station may not have been online since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click
import sqlalchemy as sa

from office import stations
from office.db import packets
from station.record_codes import derive_code
from station.slips import InvalidSlip, SlipClaim, verify_payload


@dataclass(frozen=True)
class SlipVerdict:
    claim: SlipClaim
    code_matches: bool
    """The printed code is the one derived from the packet id (a station picks a later candidate only after a
    collision, so False is rare and not by itself a forgery: the signature is what proves the slip)."""
    received_at: datetime | None
    """When the office received the record, or None if it has not arrived yet."""


def verify_slip(engine: sa.Engine, payload: str) -> SlipVerdict:
    """``SlipVerdict`` for a genuine slip; ``InvalidSlip`` (saying why) for anything else."""

    def station_key(station_id: str):  # noqa: ANN202 - Ed25519PublicKey | None
        record = stations.get_station(engine, station_id)
        return record.verify_key if record is not None and record.active else None

    claim = verify_payload(payload, station_key)
    with engine.connect() as conn:
        row = conn.execute(sa.select(packets.c.received_at, packets.c.station_id)
                           .where(packets.c.packet_id == claim.packet_id)).first()
    received = row.received_at if row is not None and row.station_id == claim.station else None
    code_matches = any(claim.code == derive_code(claim.packet_id, n) for n in range(4))
    return SlipVerdict(claim, code_matches, received)


@click.command("verify-slip")
@click.argument("payload", required=False)
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Office TOML config file.")
def verify_slip_command(payload: str | None, config_path: Path) -> None:
    """Check a slip's QR text (as a scanner types it; read from standard input when not given)."""
    from office.config import load_office_config
    from office.db import open_db

    text = payload if payload is not None else click.get_text_stream("stdin").read()
    config = load_office_config(config_path)
    engine = open_db(config.database_url)
    try:
        verdict = verify_slip(engine, text)
    except InvalidSlip as exc:
        raise click.ClickException(f"NOT GENUINE: {exc}") from exc
    finally:
        engine.dispose()
    claim = verdict.claim
    click.echo(f"GENUINE slip from station {claim.station}")
    click.echo(f"record code: {claim.code}{'' if verdict.code_matches else ' (does not match the packet id!)'}")
    click.echo(f"packet: {claim.packet_id}")
    click.echo(f"NIK: {claim.masked_nik}")
    click.echo(f"recorded: {claim.recorded_at.isoformat(timespec='minutes')}")
    if verdict.received_at is not None:
        click.echo(f"received by the office: {verdict.received_at.isoformat(timespec='seconds')}")
    else:
        click.echo("received by the office: not yet (the station has not sent it)")
