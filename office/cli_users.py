"""``jemput office user ...`` (dashboard users) and ``jemput office audit ...`` (the office's hash-chained log)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from office import users
from office.audit import recent_office_audit, verify_office_audit
from office.config import load_office_config
from office.db import open_db

CONFIG_OPTION = click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
                             help="Office TOML config file.")


def _engine(config_path: Path):  # noqa: ANN202 - an SQLAlchemy engine
    return open_db(load_office_config(config_path).database_url)


def _read_password(confirm: bool = True) -> str:
    """From the terminal (hidden, typed twice), or the first line of standard input when it is not a terminal."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@click.group("user")
def user_group() -> None:
    """Office dashboard users: viewer (reads) or admin (also commands and alert acknowledgement)."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in users.Role]), required=True)
@CONFIG_OPTION
def add_command(name: str, role: str, config_path: Path) -> None:
    """Add a user; the password comes from standard input when it is not a terminal."""
    engine = _engine(config_path)
    try:
        users.add_user(engine, name, _read_password(), role)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"User {name} added ({role}).")


@user_group.command("passwd")
@click.argument("name")
@CONFIG_OPTION
def passwd_command(name: str, config_path: Path) -> None:
    """Set a new password (also unlocks a locked account)."""
    engine = _engine(config_path)
    try:
        users.set_password(engine, name, _read_password())
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"Password of {name} changed.")


@user_group.command("remove")
@click.argument("name")
@CONFIG_OPTION
def remove_command(name: str, config_path: Path) -> None:
    """Remove a user; a session they have open ends with their next request."""
    engine = _engine(config_path)
    try:
        users.remove_user(engine, name)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"User {name} removed.")


@user_group.command("list")
@CONFIG_OPTION
def list_command(config_path: Path) -> None:
    """Users with role, last login and lock state."""
    engine = _engine(config_path)
    try:
        for u in users.list_users(engine):
            last = u.last_login_at.isoformat(timespec="minutes") if u.last_login_at else "never"
            locked = f"\tlocked until {u.locked_until.isoformat(timespec='seconds')}" if u.locked_until else ""
            click.echo(f"{u.username}\t{u.role.value}\tlast login {last}{locked}")
    finally:
        engine.dispose()


@click.group("audit")
def audit_group() -> None:
    """The office's hash-chained audit log of admin actions."""


@audit_group.command("list")
@click.option("--limit", default=50, show_default=True)
@CONFIG_OPTION
def audit_list_command(limit: int, config_path: Path) -> None:
    engine = _engine(config_path)
    try:
        for e in recent_office_audit(engine, limit):
            click.echo(f"{e.seq}\t{e.ts}\t{e.actor}\t{e.action}\t{e.detail}")
    finally:
        engine.dispose()


@audit_group.command("verify")
@CONFIG_OPTION
def audit_verify_command(config_path: Path) -> None:
    """Check the whole chain; exit status 1 and the first bad row when it was changed."""
    engine = _engine(config_path)
    try:
        verdict = verify_office_audit(engine)
    finally:
        engine.dispose()
    if not verdict.ok:
        raise click.ClickException(f"audit chain broken at row {verdict.first_bad_seq}: {verdict.reason}")
    click.echo(f"audit chain ok ({verdict.rows_checked} rows)")
