"""``jemput station init | run | status``.

``run`` builds the station, recovers after any crash, starts the front ends registered in the ``jemput.frontends``
entry point group (the kiosk UI), and runs until SIGTERM or SIGINT (or a battery-empty power-off), then stops
everything and exits 0; under systemd it notifies READY and pings the watchdog (``station.service``). A front end
that cannot be imported (``ui`` not installed) is logged and skipped: the station still queues and uploads.
Exit codes as in ``station.cli``: 0 ok, 1 runtime error, 2 usage or config error.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from station import sessions, store
from station.config import Config, check_files, load_config
from station.drafts import DraftRepo
from station.errors import JemputError
from station.outbox import Outbox, utc_now

log = logging.getLogger("jemput.station")

config_option = click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                             help="Station config file (TOML).")


@click.group("station")
def station_group() -> None:
    """Run and inspect this recording station."""


@station_group.command("init")
@config_option
def init_command(config_path: Path) -> None:
    """Create the data directory, the store and the station signing key (0600); print the public key."""
    from station.runtime import init_station

    config = load_config(config_path)
    public_b64, created = init_station(config)
    verb = "created" if created else "already present, kept"
    click.echo(f"data dir:    {config.station.data_dir}")
    click.echo(f"station key: {config.station_key_file} ({verb})")
    click.echo(f"public key:  {public_b64}")
    click.echo(f"register it at the office: jemput office add-station {config.station.id} --public-key {public_b64}")


@station_group.command("run")
@config_option
@click.option("--simulate", is_flag=True, help="Use emulated devices (pseudo-terminals, synthetic camera/battery).")
@click.option("--no-frontends", is_flag=True, help="Do not start the kiosk UI or other front ends.")
def run_command(config_path: Path, simulate: bool, no_frontends: bool) -> None:
    """Run the station until SIGTERM or SIGINT."""
    from station.runtime import build_station
    from station.service import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(config_path)
    check_files(config)   # a missing certificate or token file: one line naming the key, exit 2
    stop_event = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop_event.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    station = build_station(config, simulate=simulate)
    try:
        serve(station, stop_event, start_frontends=None if no_frontends else start_frontends,
              on_started=_report_start)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped cleanly")


def _report_start(station: Any) -> None:
    snap = station.snapshot()
    queue = snap["queue"]
    log.info("data dir %s, schema version %s", snap["data_dir"], snap["schema_version"])
    log.info("queue: %d pending (%d bytes), oldest %s, %d acknowledged", queue["pending"], queue["pending_bytes"],
             _age(queue["oldest_pending_age_s"]), queue["acknowledged_total"])
    log.info("active drafts: %d %s", len(snap["drafts"]),
             ", ".join(f"{d['nik']}@{d['step']}" for d in snap["drafts"]))
    if not station.config.office.public_key:
        log.warning("office.public_key is not set: no enrollment can start until the station is provisioned")
    elif not station.config.office.biometrics_key:
        log.warning("office.biometrics_key is not set: no enrollment can start until the station is provisioned")
    rec = station.recovery
    if rec and not rec.clean:
        log.warning("recovery: removed %d tmp, %d orphan packet file(s); %d pending record(s) missing a file",
                    len(rec.removed_tmp), len(rec.removed_orphans), len(rec.missing_files))


def start_frontends(station: Any) -> list[tuple[str, Any]]:
    started = []
    for ep in entry_points(group="jemput.frontends"):
        try:
            start = ep.load()
        except ImportError as exc:
            log.warning("front end %s not available (%s); continuing without it", ep.name, exc)
            continue
        try:
            started.append((ep.name, start(station)))
        except JemputError:
            raise
        except Exception as exc:  # a UI that imports but cannot start is an error worth stopping for
            for _name, handle in reversed(started):
                handle.stop()
            raise JemputError(f"front end {ep.name} failed to start: {exc}") from exc
        log.info("front end %s started", ep.name)
    return started


@station_group.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(config_path: Path, as_json: bool) -> None:
    """Queue, drafts and last acknowledged record (reads the store; the station may be running)."""
    config = load_config(config_path)
    status = collect_status(config)
    if as_json:
        click.echo(json.dumps(status, indent=2, sort_keys=True))
        return
    q = status["queue"]
    click.echo(f"station {status['station']} ({status['district']}), data dir {status['data_dir']}, "
               f"schema v{status['schema_version']}")
    click.echo(f"queue: {q['pending']} pending, {q['pending_bytes']} bytes, oldest {_age(q['oldest_pending_age_s'])}, "
               f"{q['acknowledged_total']} acknowledged")
    last = status["last_acknowledged"]
    click.echo(f"last acknowledged: {last['packet_id']} at {last['acknowledged_at']}" if last
               else "last acknowledged: none")
    session = status["session"]
    click.echo(f"session: {session['desa']} ({session['enrolled']} recorded)" if session else "session: none open")
    click.echo(f"active drafts: {len(status['drafts'])}")
    for d in status["drafts"]:
        click.echo(f"  {d['id']}  NIK {d['nik']}  at {d['step']}  since {d['updated_at']}")


def collect_status(config: Config) -> dict[str, Any]:
    data_dir = config.station.data_dir
    if not (data_dir / store.DB_NAME).exists():
        raise JemputError(f"no station store in {data_dir}: run 'jemput station init --config ...' first")
    conn = store.connect(data_dir)
    try:
        outbox = Outbox(conn, data_dir / "packets")
        stats = outbox.stats()
        last = outbox.last_acknowledged()
        repo = DraftRepo(conn)
        drafts = [repo.row(i) for i in repo.active_ids()]
        session = sessions.current_session(conn)
        return {
            "station": config.station.id, "district": config.station.district, "data_dir": str(data_dir),
            "schema_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "queue": {"pending": stats.pending, "pending_bytes": stats.pending_bytes,
                      "oldest_pending_age_s": stats.oldest_pending_age_s,
                      "acknowledged_total": stats.acknowledged_total},
            "last_acknowledged": {"packet_id": last.packet_id,
                                  "acknowledged_at": last.acknowledged_at.isoformat()} if last else None,
            "session": {"id": session.id, "desa": session.kode_desa,
                        "enrolled": sessions.enrolled_in_session(conn, session.id)} if session else None,
            "drafts": [{"id": r["id"], "nik": r["nik"], "step": r["step"], "updated_at": r["updated_at"]}
                       for r in drafts],
            "checked_at": utc_now().isoformat(),
        }
    finally:
        conn.close()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
