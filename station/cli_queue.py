"""``jemput queue list``: every record in the outbox with its state, age, attempts and last error; ``jemput queue
requeue``: send a packet the office rejected again.

A record that is not moving always shows why (its ``last_error``), never just "pending".
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from station import store
from station.audit import append_audit
from station.cli_station import _age, config_option
from station.config import load_config
from station.errors import JemputError
from station.outbox import Outbox, OutboxItem, OutboxState, utc_now


@click.group("queue")
def queue_group() -> None:
    """Inspect the outbox of sealed records."""


@queue_group.command("list")
@config_option
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=1), help="Newest records first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(config_path: Path, limit: int, as_json: bool) -> None:
    """List records newest first."""
    config = load_config(config_path)
    data_dir = config.station.data_dir
    if not (data_dir / store.DB_NAME).exists():
        raise JemputError(f"no station store in {data_dir}: run 'jemput station init --config ...' first")
    conn = store.connect(data_dir)
    try:
        items = Outbox(conn, data_dir / "packets").list(limit=limit)
    finally:
        conn.close()
    now = utc_now()
    if as_json:
        click.echo(json.dumps([_as_dict(i, now) for i in items], indent=2))
        return
    if not items:
        click.echo("queue is empty")
        return
    click.echo(f"{'PACKET':36}  {'NIK':16}  {'STATE':12}  {'AGE':>7}  {'SIZE':>9}  {'TRIES':>5}  LAST ERROR")
    for item in items:
        error = item.last_error or ("-" if item.state != OutboxState.UPLOADING else f"at byte {item.upload_offset}")
        state = "rejected" if item.rejected else item.state.value
        click.echo(f"{item.packet_id:36}  {item.nik:16}  {state:12}  {_age(item.age_s(now)):>7}  "
                   f"{item.size_bytes:>9}  {item.attempts:>5}  {error}")


def _as_dict(item: OutboxItem, now) -> dict:
    return {
        "packet_id": item.packet_id, "nik": item.nik, "state": "rejected" if item.rejected else item.state.value,
        "age_s": round(item.age_s(now), 1),
        "size_bytes": item.size_bytes, "sha256": item.sha256, "attempts": item.attempts,
        "last_error": item.last_error, "upload_offset": item.upload_offset,
        "created_at": item.created_at.isoformat(),
        "acknowledged_at": item.acknowledged_at.isoformat() if item.acknowledged_at else None,
    }


@queue_group.command("requeue")
@config_option
@click.argument("packet_id", required=False)
@click.option("--all-rejected", is_flag=True, help="Every packet the office rejected.")
def requeue_command(config_path: Path, packet_id: str | None, all_rejected: bool) -> None:
    """Send a packet the office rejected again (after the office fixed what it refused, e.g. a station key)."""
    if bool(packet_id) == all_rejected:
        raise click.UsageError("give a PACKET_ID or --all-rejected (not both)")
    config = load_config(config_path)
    data_dir = config.station.data_dir
    if not (data_dir / store.DB_NAME).exists():
        raise JemputError(f"no station store in {data_dir}: run 'jemput station init --config ...' first")
    conn = store.connect(data_dir)
    try:
        outbox = Outbox(conn, data_dir / "packets")
        if all_rejected:
            ids = outbox.requeue_all_rejected()
        else:
            outbox.requeue(packet_id or "")
            ids = [packet_id or ""]
        if ids:
            append_audit(conn, "cli", "queue.requeue", {"packet_ids": ids})
    finally:
        conn.close()
    if not ids:
        click.echo("no rejected packets")
    for requeued in ids:
        click.echo(f"{requeued}: back in the queue")
