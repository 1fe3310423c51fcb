"""``jemput office wilayah|targets|residents|boundaries import``, ``roster export``, ``export`` and ``reindex``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
import sqlalchemy as sa

from office import boundary_import, desa_stats, imports, refdata
from office.config import OfficeConfig, load_office_config
from office.db import open_db
from station.roster import ImportReport

CONFIG_OPTION = click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
                             help="Office TOML config file.")
SOURCE_OPTION = click.option("--source", default=None,
                             help="Name of this data's source (default: the file name); a re-import with the "
                                  "same source replaces its rows.")


@contextmanager
def _office(config_path: Path) -> Iterator[tuple[OfficeConfig, sa.Engine]]:
    config = load_office_config(config_path)
    engine = open_db(config.database_url)
    try:
        yield config, engine
    finally:
        engine.dispose()


@contextmanager
def _bar(label: str, length: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal (stderr), silent otherwise; the callback takes the absolute position."""
    with click.progressbar(length=max(1, length), label=label, file=sys.stderr,
                           show_pos=False, show_percent=True) as bar:
        done = [0]

        def update(position: int) -> None:
            bar.update(max(0, position - done[0]))
            done[0] = max(done[0], position)

        yield update


def _report(report: ImportReport, what: str) -> None:
    click.echo(f"{report.imported} {what} imported, {report.skipped} rows skipped.")
    for error in report.errors:
        click.echo(f"line {error.line}: {error.reason}", err=True)
    if report.skipped > len(report.errors):
        click.echo(f"... and {report.skipped - len(report.errors)} more bad rows", err=True)
    for warning in report.warnings[:50]:
        click.echo(f"line {warning.line}: warning: {warning.reason}", err=True)


def _run_import(fn: Callable[..., ImportReport], path: Path, label: str, **kwargs) -> ImportReport:
    try:
        with _bar(label, os.path.getsize(path) if path.exists() else 1) as update:
            return fn(path=path, progress=update, **kwargs)
    except imports.ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("wilayah")
def wilayah_group() -> None:
    """Kode wilayah names (the national list is shipped and loaded by init)."""


@wilayah_group.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@SOURCE_OPTION
@CONFIG_OPTION
def wilayah_import(csv_file: Path, source: str | None, config_path: Path) -> None:
    """Import kode_wilayah,nama_wilayah rows; their names override the shipped list's."""
    with _office(config_path) as (_, engine):
        report = _run_import(lambda path, progress, **kw: imports.import_wilayah(engine, path, progress=progress,
                                                                                   **kw),
                             csv_file, "wilayah", source=source)
    _report(report, "regions")


@click.group("targets")
def targets_group() -> None:
    """Wajib-KTP targets per kecamatan/desa."""


@targets_group.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@SOURCE_OPTION
@CONFIG_OPTION
def targets_import(csv_file: Path, source: str | None, config_path: Path) -> None:
    """Import kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam (DESIGN §8)."""
    with _office(config_path) as (config, engine):
        refdata.ensure_shipped_wilayah(engine)
        report = _run_import(lambda path, progress, **kw: imports.import_targets(engine, path, progress=progress,
                                                                                   **kw),
                             csv_file, "targets", source=source, district=config.office.district)
    _report(report, "targets")


@click.group("residents")
def residents_group() -> None:
    """The list of residents still to record."""


@residents_group.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@SOURCE_OPTION
@CONFIG_OPTION
def residents_import(csv_file: Path, source: str | None, config_path: Path) -> None:
    """Import unrecorded residents in the roster format nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat."""
    with _office(config_path) as (config, engine):
        refdata.ensure_shipped_wilayah(engine)
        report = _run_import(lambda path, progress, **kw: imports.import_residents(engine, path,
                                                                                     progress=progress, **kw),
                             csv_file, "residents", source=source, district=config.office.district)
        desa_stats.rebuild(engine)
    _report(report, "residents")


@click.group("boundaries")
def boundaries_group() -> None:
    """Kecamatan/desa boundaries for the maps (Kapuas Hulu's are shipped)."""


@boundaries_group.command("import")
@click.argument("geojson", type=click.Path(path_type=Path, dir_okay=False))
@SOURCE_OPTION
@CONFIG_OPTION
def boundaries_import(geojson: Path, source: str | None, config_path: Path) -> None:
    """Import a GeoJSON FeatureCollection with properties kode_wilayah, nama_wilayah, lat, lng."""
    with _office(config_path) as (config, engine):
        refdata.ensure_shipped_wilayah(engine)
        try:
            doc = boundary_import.read_geojson(geojson)
            with _bar("boundaries", len(doc.get("features") or []) if isinstance(doc, dict) else 1) as update:
                report = boundary_import.import_boundaries(engine, doc, source=source or geojson.name,
                                                   district=config.office.district, progress=update)
        except imports.ImportFileError as exc:
            raise click.ClickException(str(exc)) from exc
    _report(report, "boundaries")


@click.group("roster")
def roster_group() -> None:
    """Station rosters for the next trip."""


@roster_group.command("export")
@click.option("--desa", required=True, help="Kode desa, comma-separated: 61.06.17.2004,61.06.17.2005")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False))
@CONFIG_OPTION
def roster_export(desa: str, out: Path, config_path: Path) -> None:
    """Write the residents of these desa with no record yet, ready for a station's 'jemput roster import'."""
    from office.roster_export import RosterExportError, parse_desa_list, write_roster

    with _office(config_path) as (config, engine):
        try:
            codes = parse_desa_list(desa, config.office.district)
        except RosterExportError as exc:
            raise click.BadParameter(str(exc), param_hint="--desa") from exc
        count = write_roster(engine, codes, out)
        names = refdata.names_for(engine, codes)
    click.echo(f"{count} residents of {', '.join(names.get(c, c) for c in codes)} written to {out}")


@click.command("reindex")
@CONFIG_OPTION
def reindex_command(config_path: Path) -> None:
    """Read the manifest of every stored packet not yet counted, then recount coverage."""
    from office.keys import load_office_keys
    from office.record_index import index_pending

    with _office(config_path) as (config, engine):
        identity = load_office_keys(config.keys_dir).age_identity or ""
        total = 0
        while done := index_pending(engine, identity):
            total += done
        desa_stats.rebuild(engine)
    click.echo(f"{total} packets indexed; coverage recounted.")


@click.command("export")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@click.option("--until", default=None, type=click.DateTime(["%Y-%m-%d"]), help="Last day (default: --since).")
@click.option("--identity", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The BIOMETRICS identity file (biometrics.age).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Office config: packet store, station keys and the database to mark records exported.")
@click.option("--packets", "packets_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A copy of the packet store (default: the config's data_dir/packets).")
@click.option("--stations", "stations_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Station keys as 'jemput office list-stations' prints them (when the database is away).")
def export_command(since, until, identity: Path, out: Path, config_path: Path | None, packets_dir: Path | None,
                   stations_file: Path | None) -> None:
    """Export records of a period for the central system: folders of plain files plus SHA256SUMS."""
    from office import central_export as ce
    from office.keys import load_biometrics_identity
    from station.keys import KeyMaterialError

    first: date = since.date()
    last: date = (until or since).date()
    if last < first:
        raise click.BadParameter("--until is before --since", param_hint="--until")
    try:
        secret = load_biometrics_identity(identity)
    except KeyMaterialError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = None
    station_keys: dict = {}
    config = load_office_config(config_path) if config_path else None
    if config is not None:
        from office.keys import RECORDS_IDENTITY_FILE
        from station.keys import age_recipient_of, load_age_identity

        records_file = config.keys_dir / RECORDS_IDENTITY_FILE
        if records_file.exists() and age_recipient_of(load_age_identity(records_file)) == age_recipient_of(secret):
            raise click.ClickException("this is the records identity: it opens manifests only. Export needs the "
                                       "biometrics identity (--identity biometrics.age)")
        packets_dir = packets_dir or config.packets_dir
        engine = sa.create_engine(config.database_url) if config.office.database_url or \
            (config.office.data_dir / "office.db").exists() else None
        if engine is not None:
            try:
                station_keys = ce.station_keys_from_db(engine)
            except sa.exc.SQLAlchemyError:
                click.echo("office database not reachable: records will not be marked exported", err=True)
                engine = None
    if stations_file:
        station_keys |= ce.read_station_keys(stations_file)
    if packets_dir is None:
        raise click.UsageError("give --config (the office) or --packets (a copy of its packet store)")
    if not station_keys:
        raise click.UsageError("no station keys: give --config with a reachable database, or --stations FILE")
    total = len(ce.candidates(packets_dir, first, last))
    try:
        with _bar("export", total) as update:
            report = ce.export_records(packets_dir, out, identity=secret, since=first, until=last,
                                       station_verify_keys=station_keys, engine=engine, progress=update)
    except ce.ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if engine is not None:
            engine.dispose()
    click.echo(f"{len(report.exported)} records exported to {out}, {len(report.already)} already there, "
               f"{len(report.skipped)} skipped.")
    for name, reason in report.skipped:
        click.echo(f"skipped {name}: {reason}", err=True)
    if report.database_reachable:
        click.echo(f"{report.marked} records marked exported in the office database.")
    else:
        click.echo("Records not marked exported (no office database here); run the same export on the office "
                   "with --config to mark them.")
    if report.skipped:
        sys.exit(2)


def register(group: click.Group) -> None:
    for command in (wilayah_group, targets_group, residents_group, boundaries_group, roster_group, reindex_command,
                    export_command):
        group.add_command(command)
