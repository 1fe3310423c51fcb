"""The ``jemput`` command.

The root group lists its sub-commands from the ``jemput.cli`` entry points and imports each only when it is used,
so ``station`` never imports ``office`` or ``provisioning`` (the dependency rule in DESIGN §1) and a broken optional
part cannot stop ``jemput station run``. Exit codes: 0 ok, 1 runtime error, 2 usage or config error.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any

import click

from station.errors import ConfigError, JemputError

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class EntryPointGroup(click.Group):
    """A click group whose commands come from the ``jemput.cli`` entry points, loaded lazily."""

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group="jemput.cli")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._entry_points().get(cmd_name)
        if ep is None:
            return None
        try:
            return ep.load()
        except ImportError as exc:
            raise click.ClickException(f"the '{cmd_name}' commands are not available: {exc}") from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Help lists every command; one that cannot load says so instead of breaking ``--help``."""
        rows = []
        for name in self.list_commands(ctx):
            try:
                command = self.get_command(ctx, name)
            except click.ClickException as exc:
                rows.append((name, f"(unavailable: {exc.message})"))
                continue
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width - 20)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=EntryPointGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jemput")
def cli() -> None:
    """Jemput: offline e-KTP recording stations and their district office."""


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: maps our errors to exit codes with a one-line message, never a traceback."""
    try:
        cli.main(args=argv, prog_name="jemput", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_RUNTIME
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_RUNTIME
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except ConfigError as exc:
        click.echo(f"Config error: {exc}", err=True)
        return EXIT_USAGE
    except JemputError as exc:
        click.echo(f"Error: {exc}", err=True)
        return EXIT_RUNTIME
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
