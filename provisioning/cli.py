"""``jemput provision bundle | apply | harden`` (DESIGN §12; step by step in docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path

import click

from provisioning.layout import Layout


def _passphrase(path: Path) -> str:
    """The first line of the file; a passphrase on the command line would end up in shell history and ``ps``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--passphrase-file") from None
    lines = text.splitlines()
    passphrase = lines[0].strip() if lines else ""
    if len(passphrase) < 8:
        raise click.BadParameter(f"{path}: the passphrase must be at least 8 characters",
                                 param_hint="--passphrase-file")
    return passphrase


PASSPHRASE_OPTION = click.option("--passphrase-file", "passphrase_file", required=True,
                                 type=click.Path(dir_okay=False, path_type=Path),
                                 help="File whose first line is the bundle passphrase (given separately from the "
                                      "bundle: by phone, on paper).")
ROOT_OPTION = click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="Put every path under this folder instead of the running system.")


@click.group("provision")
def provision_group() -> None:
    """Turn a blank Raspberry Pi into a station: bundle (office), apply and harden (station)."""


@provision_group.command("bundle")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Office TOML config file.")
@click.option("--station", "station_id", required=True, help="Station id, e.g. kph-03.")
@click.option("--desa", required=True, help="Kode desa of the trip, comma-separated (e.g. 61.06.01.2001).")
@click.option("--operators", "operators_csv", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV username,name,role,pin (role operator or supervisor); only PIN hashes go in the bundle.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@PASSPHRASE_OPTION
@click.option("--roster", "roster_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Roster CSV (DESIGN §8); default: the office database's residents of the chosen desa.")
@click.option("--station-toml", "station_toml", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Per-station settings to include: [ui], [devices.*], [power], [station] retention_days.")
@click.option("--usb-devices", "usb_devices_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV role,vendor,product,serial,usb_path of the kit's USB-serial adapters (udev rules).")
@click.option("--cert-days", type=click.IntRange(1, 3650), default=None,
              help="MQTT certificate lifetime (default [provisioning] client_cert_days).")
@click.option("--reprovision", is_flag=True, help="The station is registered: new token and certificate, same key.")
@click.option("--new-key", is_flag=True, help="With --reprovision: a replaced card gets a new station key.")
def bundle_command(config_path: Path, station_id: str, desa: str, operators_csv: Path, out: Path,
                   passphrase_file: Path, roster_csv: Path | None, station_toml: Path | None,
                   usb_devices_csv: Path | None, cert_days: int | None, reprovision: bool, new_key: bool) -> None:
    """Register a station and write its signed, passphrase-sealed bundle."""
    from office.config import load_office_config
    from provisioning.bundle_builder import BundleRequest, build_bundle, write_bundle_file

    if new_key and not reprovision:
        raise click.UsageError("--new-key is for re-provisioning a registered station (add --reprovision)")
    config = load_office_config(config_path)
    request = BundleRequest(station_id=station_id, desa=desa.split(","), operators_csv=operators_csv,
                            passphrase=_passphrase(passphrase_file), roster_csv=roster_csv,
                            station_toml=station_toml, usb_devices_csv=usb_devices_csv, cert_days=cert_days,
                            reprovision=reprovision, new_key=new_key)
    click.echo(f"Building the bundle for {station_id} (sealing takes a few seconds)...")
    built = build_bundle(config, request)
    write_bundle_file(out, built.data)
    h = built.header
    click.echo(f"Station {station_id} {'re-provisioned' if reprovision else 'registered'} "
               f"for district {h['district']}.")
    click.echo(f"Roster: {built.roster.rows} resident(s) from {built.roster.source}; {built.operators} operator(s).")
    click.echo(f"MQTT certificate valid until {h['cert_not_after']}.")
    click.echo(f"Bundle written to {out} (mode 0600). Give the passphrase separately.")
    click.echo(f"On the station: jemput provision apply {out.name} --passphrase-file F "
               f"--office-key {h['office_verify_key']}")


@provision_group.command("apply")
@click.argument("bundle_path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@PASSPHRASE_OPTION
@ROOT_OPTION
@click.option("--card", is_flag=True, help="With --root: it is a mounted card; the config names the paths the "
                                           "booted card sees.")
@click.option("--office-key", default=None, help="The office's Ed25519 key (base64) the bundle must be signed "
                                                 "by; default: the installed station's office key.")
@click.option("--district", default=None, help="Refuse a bundle for any other district (default: the installed "
                                               "station's district).")
def apply_command(bundle_path: Path, passphrase_file: Path, root: Path | None, card: bool, office_key: str | None,
                  district: str | None) -> None:
    """Check the bundle (signature, district, passphrase, certificate) and install it. Safe to repeat."""
    from provisioning.apply import apply_bundle

    layout = Layout(root=root or Path("/"), card=card)
    report = apply_bundle(bundle_path.read_bytes(), _passphrase(passphrase_file), layout, office_key=office_key,
                          district=district)
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.unchanged:
        click.echo(f"Station {report.station} ({report.district}): already up to date, nothing changed.")
    else:
        click.echo(f"Station {report.station} ({report.district}): {len(report.changed)} change(s):")
        for item in report.changed:
            click.echo(f"  {item}")
    click.echo(f"Unsent records kept in the queue: {report.pending_records}.")


@provision_group.command("harden")
@ROOT_OPTION
@click.option("--data-device", default=None,
              help="Partition for /var/lib/jemput (e.g. /dev/mmcblk0p3); default: found by its label JEMPUT-DATA.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
def harden_command(root: Path | None, data_device: str | None, dry_run: bool) -> None:
    """Read-only root (overlay), a writable data partition for /var/lib/jemput, journald in RAM."""
    from provisioning.harden import harden

    layout = Layout(root=root or Path("/"))
    for line in harden(layout, data_device=data_device, dry_run=dry_run):
        click.echo(line)
