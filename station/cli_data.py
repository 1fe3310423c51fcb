"""``jemput roster``, ``jemput operator`` and ``jemput audit``: the station's data, from a shell.

These run on the station itself (over SSH or a keyboard in the office before a trip), so output is plain text a
person reads, errors are one line, and exit codes follow station.cli: 0 ok, 1 runtime error, 2 usage/config error.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from station.audit import canonical_json, recent_audit, verify_audit_chain
from station.config import load_config
from station.errors import IntegrityError, JemputError
from station.nik import InvalidNik, parse_nik
from station.operators import InvalidPin, add_operator, operator_status, unlock_operator, validate_pin
from station.roster import Resident, find_by_nik, import_roster, search_by_name, villages
from station.store import connect

config_option = click.option(
    "--config", "config_path", required=True, envvar="JEMPUT_CONFIG", metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False), help="Station config (TOML); or set JEMPUT_CONFIG.",
)


@contextmanager
def open_store(config_path: Path) -> Iterator[sqlite3.Connection]:
    """The station's store, from the config's data_dir; open failures become one-line JemputErrors."""
    config = load_config(config_path)
    data_dir = config.station.data_dir
    try:
        conn = connect(data_dir)
    except JemputError:
        raise
    except (sqlite3.Error, OSError) as exc:
        raise JemputError(f"cannot open the station store in {data_dir}: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()


def _resident_line(r: Resident) -> str:
    return "\t".join([r.nik, r.nama, r.tanggal_lahir.isoformat(), r.jenis_kelamin, r.kode_desa, r.alamat])


# --------------------------------------------------------------------------------------------------- roster


@click.group("roster")
def roster_group() -> None:
    """Residents to record: import the office's roster CSV, look people up."""


def _progress_printer() -> Callable[[int], None]:
    tty = sys.stderr.isatty()

    def show(rows: int) -> None:
        click.echo(f"\r{rows:>9,} rows read" if tty else f"{rows} rows read", err=True, nl=not tty)

    return show


@roster_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@config_option
def roster_import(file: Path, config_path: Path) -> None:
    """Import (add or update) residents from FILE: nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat.

    Bad rows are listed with their line numbers and skipped; the good rows are kept. Exit status is 0 even with
    bad rows, 1 when the file cannot be read at all.
    """
    with open_store(config_path) as conn:
        report = import_roster(conn, file, progress=_progress_printer(), actor="cli")
    if sys.stderr.isatty():
        click.echo(err=True)
    click.echo(f"Imported {report.imported} rows, skipped {report.skipped} bad rows.")
    for error in report.errors:
        click.echo(f"line {error.line}: {error.reason}")
    for warning in report.warnings:
        click.echo(f"warning line {warning.line}: {warning.reason}")


@roster_group.command("find")
@click.option("--nik", help="Exact 16-digit NIK.")
@click.option("--name", "name_prefix", metavar="PREFIX", help="Start of the name or of any later word of it.")
@click.option("--desa", "kode_desa", metavar="KODE", help="Only this desa (PP.KK.CC.DDDD), with --name.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@config_option
def roster_find(nik: str | None, name_prefix: str | None, kode_desa: str | None, limit: int,
                config_path: Path) -> None:
    """Look a resident up by NIK or name prefix; prints tab-separated rows (exit 1 when none match)."""
    if (nik is None) == (name_prefix is None):
        raise click.UsageError("give exactly one of --nik or --name")
    if nik is not None:
        try:
            parse_nik(nik.strip())
        except InvalidNik as exc:
            raise click.BadParameter(str(exc), param_hint="--nik") from None
    with open_store(config_path) as conn:
        if nik is not None:
            found = find_by_nik(conn, nik)
            results = [found] if found else []
        else:
            results = search_by_name(conn, name_prefix or "", kode_desa=kode_desa, limit=limit)
    if not results:
        raise JemputError(f"no resident matches {'NIK ' + nik if nik else 'name ' + repr(name_prefix)}")
    for resident in results:
        click.echo(_resident_line(resident))


@roster_group.command("villages")
@config_option
def roster_villages(config_path: Path) -> None:
    """List the desa in the roster with their number of residents."""
    with open_store(config_path) as conn:
        for kode, count in villages(conn):
            click.echo(f"{kode}\t{count}")


# ------------------------------------------------------------------------------------------------- operator


@click.group("operator")
def operator_group() -> None:
    """Station operators: add, list, unlock."""


def _read_pin(pin_stdin: bool) -> str:
    if pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = click.prompt("PIN (4-8 digits)", hide_input=True, confirmation_prompt="Repeat PIN")
    try:
        validate_pin(pin)
    except InvalidPin as exc:
        raise click.BadParameter(str(exc), param_hint="PIN") from None
    return pin


@operator_group.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Name shown on the kiosk, e.g. \"Ani Lestari\".")
@click.option("--role", type=click.Choice(["operator", "supervisor"]), default="operator", show_default=True)
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from the first line of stdin instead of prompting.")
@config_option
def operator_add(username: str, display_name: str, role: str, pin_stdin: bool, config_path: Path) -> None:
    """Add operator USERNAME; the PIN is asked twice without echo (or read from stdin)."""
    load_config(config_path)  # a bad config fails before anyone types a PIN
    pin = _read_pin(pin_stdin)
    with open_store(config_path) as conn:
        operator = add_operator(conn, username, display_name, pin, role=role)
    click.echo(f"Added {operator.role} {operator.username} ({operator.display_name}), id {operator.id}.")


@operator_group.command("list")
@config_option
def operator_list(config_path: Path) -> None:
    """List active operators, with lockouts."""
    with open_store(config_path) as conn:
        statuses = operator_status(conn)
    if not statuses:
        click.echo("No operators yet: add one with 'jemput operator add'.", err=True)
    for status in statuses:
        op = status.operator
        state = f"locked until {status.locked_until.isoformat(timespec='seconds')}" if status.locked_until else "ok"
        click.echo(f"{op.id}\t{op.username}\t{op.display_name}\t{op.role}\t{state}")


@operator_group.command("unlock")
@click.argument("username")
@config_option
def operator_unlock(username: str, config_path: Path) -> None:
    """Clear USERNAME's wrong-PIN lockout."""
    with open_store(config_path) as conn:
        unlock_operator(conn, username, actor="cli")
    click.echo(f"Unlocked {username}.")


# ---------------------------------------------------------------------------------------------------- audit


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log of operator actions."""


@audit_group.command("verify")
@config_option
def audit_verify(config_path: Path) -> None:
    """Check the whole chain; exit 1 naming the first row that was changed, removed or reordered."""
    with open_store(config_path) as conn:
        verdict = verify_audit_chain(conn)
    if not verdict.ok:
        raise IntegrityError(
            f"audit chain broken at seq {verdict.first_bad_seq}: {verdict.reason} "
            f"({verdict.rows_checked} rows before it are intact)"
        )
    click.echo(f"Audit chain ok: {verdict.rows_checked} rows.")


@audit_group.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@config_option
def audit_list(limit: int, config_path: Path) -> None:
    """Show the newest audit entries."""
    with open_store(config_path) as conn:
        entries = recent_audit(conn, limit)
    for e in entries:
        click.echo(f"{e.seq}\t{e.ts}\t{e.actor}\t{e.action}\t{canonical_json(e.detail)}")
