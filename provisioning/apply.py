"""Station side of provisioning: ``jemput provision apply BUNDLE`` (DESIGN §12).

Every check comes before the first write: the bundle's form, the office signature (against ``--office-key``, or
the key of the office this card already belongs to), the district (``--district``, or the installed one), the
passphrase, the certificate (issued by the bundled CA, for this station and district, not expired), the config.
A refused bundle leaves the card exactly as it was.

Then it writes the config, keys (0600 in 0700 folders), the store's operators and roster, the units and udev
rules, comparing before each write so a second apply of the same bundle changes nothing. The queue is never
touched: re-provisioning keeps every sealed, unsent record (and the station key that signed them, unless the
office issued a new one for a replaced card).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from office.ca import CertificateError, check_client_certificate
from provisioning import layout as L
from provisioning.bundle_format import BundleRefused, RefusalKind, SignedBundle, open_payload, parse_bundle
from provisioning.bundle_format import verify_signature as verify_bundle_signature
from provisioning.files import FileWriter
from provisioning.system_files import (
    install_kiosk_session,
    install_poweroff_rule,
    install_udev_rules,
    install_units,
    reload_live_system,
)
from provisioning.users import ensure_accounts
from station import keys, store
from station.config import Config, config_from_dict, load_config
from station.errors import ConfigError, JemputError
from station.operators import install_hashed_operators
from station.roster import import_roster

ROSTER_META = "provisioned_roster_sha256"
DESA_META = "provisioned_desa"
BUNDLE_META = "provisioned_bundle"


class ApplyError(JemputError):
    """The bundle cannot be installed here (not its content: the place); nothing was written."""


@dataclass
class ApplyReport:
    station: str
    district: str
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending_records: int = 0

    @property
    def unchanged(self) -> bool:
        return not self.changed


@dataclass(frozen=True)
class Verified:
    bundle: SignedBundle
    payload: dict[str, Any]
    config: Config
    notes: list[str]


def installed_config(layout: L.Layout) -> Config | None:
    path = layout.host(L.CONFIG_FILE)
    if not path.is_file():
        return None
    try:
        return load_config(path)
    except ConfigError:
        return None  # a broken config is what re-provisioning is for


def verify_bundle(data: bytes, passphrase: str, layout: L.Layout, *, office_key: str | None = None,
                  district: str | None = None, now: datetime | None = None) -> Verified:
    """Every check, no writes. ``BundleRefused`` says which failed."""
    notes: list[str] = []
    bundle = parse_bundle(data)
    current = installed_config(layout)
    anchor = office_key or (current.office.verify_key if current and current.office.verify_key else None)
    if anchor is not None and anchor.strip() != bundle.header["office_verify_key"]:
        raise BundleRefused(RefusalKind.OFFICE, "this bundle was made by another office than the one this "
                                                "station belongs to (different office key). Nothing was installed.")
    verify_bundle_signature(bundle, bundle.header["office_verify_key"])
    if anchor is None:
        notes.append("first install: the office key is taken from the bundle; check it against the office: "
                     + bundle.header["office_verify_key"])
    expected = district or (current.station.district if current else None)
    if expected is not None and bundle.district != expected:
        raise BundleRefused(RefusalKind.DISTRICT, f"this bundle is for district {bundle.district}, but this "
                                                  f"station belongs to district {expected}. Nothing was installed.")
    payload = open_payload(bundle, passphrase)
    mqtt = payload["mqtt"]
    try:
        check_client_certificate(mqtt["cert_pem"].encode("ascii"), mqtt["ca_pem"].encode("ascii"),
                                 station_id=bundle.station, district=bundle.district, now=now)
    except CertificateError as exc:
        raise BundleRefused(RefusalKind.CERTIFICATE, f"{exc}. Nothing was installed.") from None
    _check_station_key(payload, layout)
    try:
        config = config_from_dict(station_config_dict(payload, layout), source=layout.host(L.CONFIG_FILE))
    except ConfigError as exc:
        raise BundleRefused(RefusalKind.CONTENT, f"the bundle's station config is not valid here ({exc}). "
                                                 "Nothing was installed.") from None
    if current is not None and current.station.id != bundle.station:
        pending = _pending_records(layout)
        if pending:
            raise BundleRefused(RefusalKind.CONTENT, f"this card is station {current.station.id} with {pending} "
                                                     f"unsent record(s); a bundle for {bundle.station} would "
                                                     "strand them. Upload them first. Nothing was installed.")
    return Verified(bundle, payload, config, notes)


def _check_station_key(payload: dict[str, Any], layout: L.Layout) -> None:
    path = layout.host(L.STATION_KEY)
    if payload["station_key_pem"] is not None:
        if path.exists() and path.read_text(encoding="ascii", errors="replace") != payload["station_key_pem"]:
            pending = _pending_records(layout)
            if pending:
                raise BundleRefused(RefusalKind.CONTENT, f"this bundle replaces the station key, but the card holds "
                                                         f"{pending} unsent record(s) signed with the old one: the "
                                                         "office would refuse them. Upload them first, or ask for a "
                                                         "re-provisioning bundle that keeps the key. Nothing was "
                                                         "installed.")
        return
    try:
        installed = keys.public_key_b64(keys.load_signing_key(path))
    except keys.KeyMaterialError:
        raise BundleRefused(RefusalKind.CONTENT, "this re-provisioning bundle keeps the station's key, but this "
                                                 "card has none: ask the office for a bundle with a new key "
                                                 "(--new-key). Nothing was installed.") from None
    if installed != payload["station_public_key"]:
        raise BundleRefused(RefusalKind.CONTENT, "this card's station key is not the one the office registered "
                                                 "for this station. Nothing was installed.")


def station_config_dict(payload: dict[str, Any], layout: L.Layout) -> dict[str, Any]:
    """The bundle's station config plus the paths of this layout."""
    config = json.loads(json.dumps(payload["station_config"]))
    config["station"]["data_dir"] = layout.named(L.DATA_DIR)
    config.setdefault("office", {})["token"] = "@" + layout.named(L.TOKEN_FILE)
    if "mqtt" in config:
        config["mqtt"].update(ca=layout.named(L.MQTT_CA), cert=layout.named(L.MQTT_CERT), key=layout.named(L.MQTT_KEY))
    return config


def apply_bundle(data: bytes, passphrase: str, layout: L.Layout, *, office_key: str | None = None,
                 district: str | None = None, now: datetime | None = None) -> ApplyReport:
    if layout.is_live_system and os.geteuid() != 0:
        raise ApplyError("installing on this system needs root: run it with sudo (or give --root DIR)")
    verified = verify_bundle(data, passphrase, layout, office_key=office_key, district=district, now=now)
    payload = verified.payload
    report = ApplyReport(verified.bundle.station, verified.bundle.district, notes=list(verified.notes))
    writer = FileWriter(layout, report.changed)
    accounts = ensure_accounts(layout, report.changed)
    if accounts is None:
        report.notes.append("not root or no /etc/passwd under the root: users not created, files keep the "
                            "current owner")
    owner = accounts.station if accounts else None
    writer.ensure_dir(L.CONFIG_DIR, 0o755)
    writer.write(L.CONFIG_FILE, dump_toml(station_config_dict(payload, layout)).encode("utf-8"), 0o644)
    writer.ensure_dir(L.DATA_DIR, 0o700, owner)
    writer.ensure_dir(L.KEYS_DIR, 0o700, owner)
    writer.ensure_dir(L.DATA_DIR + "/packets", 0o700, owner)
    if payload["station_key_pem"] is not None:
        writer.write(L.STATION_KEY, payload["station_key_pem"].encode("ascii"), 0o600, owner)
    writer.write(L.TOKEN_FILE, (payload["token"] + "\n").encode("ascii"), 0o600, owner)
    mqtt = payload["mqtt"]
    for path, text in ((L.MQTT_CA, mqtt["ca_pem"]), (L.MQTT_CERT, mqtt["cert_pem"]), (L.MQTT_KEY, mqtt["key_pem"])):
        writer.write(path, text.encode("ascii"), 0o600, owner)
    report.pending_records = _install_store_data(layout, payload, verified.bundle, report.changed)
    if owner is not None:
        _own_store(layout, owner)
    install_units(writer)
    install_kiosk_session(writer)
    install_poweroff_rule(writer)
    install_udev_rules(writer, payload.get("usb_devices"))
    if layout.is_live_system:
        report.notes.extend(f"ran: {c}" for c in reload_live_system(report.changed))
    return report


def _install_store_data(layout: L.Layout, payload: dict[str, Any], bundle: SignedBundle,
                        changed: list[str]) -> int:
    """Operators, roster and desa names into the station's SQLite store; the outbox is left alone."""
    data_dir = layout.host(L.DATA_DIR)
    existed = (data_dir / store.DB_NAME).exists()
    conn = store.connect(data_dir)
    try:
        if not existed:
            changed.append(f"{L.DATA_DIR}/{store.DB_NAME}")
        wanted = [(o["username"], o["name"], o["role"], o["pin_hash"]) for o in payload["operators"]]
        if install_hashed_operators(conn, wanted):
            changed.append("store: operators")
        roster_sha = hashlib.sha256(payload["roster_csv"].encode("utf-8")).hexdigest()
        if store.get_meta(conn, ROSTER_META) != roster_sha:
            import_roster(conn, io.StringIO(payload["roster_csv"]), actor="provisioning")
            store.set_meta(conn, ROSTER_META, roster_sha)
            changed.append("store: roster")
        desa = json.dumps(payload["desa"], sort_keys=True, ensure_ascii=False)
        if store.get_meta(conn, DESA_META) != desa:
            store.set_meta(conn, DESA_META, desa)
            changed.append("store: desa names")
        if store.get_meta(conn, BUNDLE_META) != bundle.header["bundle_id"]:
            store.set_meta(conn, BUNDLE_META, bundle.header["bundle_id"])
        row = conn.execute("SELECT COUNT(*) FROM outbox WHERE state IN ('sealed', 'uploading')").fetchone()
        return int(row[0])
    finally:
        conn.close()


def _pending_records(layout: L.Layout) -> int:
    """Unsent records on the card, read without writing (verification never changes the card)."""
    db_file = layout.host(L.DATA_DIR) / store.DB_NAME
    if not db_file.exists():
        return 0
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE state IN ('sealed', 'uploading')").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _own_store(layout: L.Layout, owner: tuple[int, int]) -> None:
    """The store's files belong to the station user (the service runs as it)."""
    data_dir = layout.host(L.DATA_DIR)
    for path in data_dir.glob(store.DB_NAME + "*"):
        st = path.stat()
        if (st.st_uid, st.st_gid) != owner:
            os.chown(path, *owner)


def dump_toml(data: dict[str, Any]) -> str:
    """TOML for a config of tables, strings, integers and booleans (all a station config holds)."""
    lines = ["# Written by jemput provision apply; re-provision rather than edit (docs/deployment.md).", ""]

    def emit(table: dict[str, Any], name: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if scalars or not name:
            if name:
                lines.append(f"[{name}]")
            for key, value in scalars.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(value, f"{name}.{key}" if name else key)

    emit(data, "")
    return "\n".join(lines).rstrip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} to the station config")


def utc_now() -> datetime:
    return datetime.now(UTC)
