"""Office side of provisioning: ``jemput provision bundle`` (DESIGN §12).

One call gathers everything a blank card needs, registers the station with the office (public key and the hash of
a fresh upload token) and writes one signed, passphrase-sealed bundle. The station's private keys exist only in
memory here and in the bundle: the office keeps the public key, never the private one.

Re-provisioning (``reprovision=True``) is for a station that is already registered: its card keeps its key, so
packets it sealed and has not sent yet still verify at the office; the bundle carries a new token and a new MQTT
certificate but no station key. ``new_key=True`` is for a replaced card: a new key is generated and the office
registration switches to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from office import stations
from office.ca import ca_dir, load_ca
from office.config import OfficeConfig
from office.db import open_db
from office.keys import OfficeKeys, load_office_keys
from provisioning import bundle_format, layout, sources
from provisioning.udev_rules import read_usb_devices
from station import keys
from station.config import config_from_dict, read_toml
from station.errors import ConfigError, JemputError

OFFICE_KEY_CONFIG = {"records": "public_key", "verify": "verify_key", "biometrics": "biometrics_key"}
"""Bundle ``office_keys`` name -> the station config's ``[office]`` key it fills."""
EXTRA_SECTIONS = ("ui", "devices", "power")
EXTRA_STATION_KEYS = ("retention_days", "min_free_mb")


class BundleBuildError(JemputError):
    """The bundle cannot be made; nothing was registered and no file written."""


@dataclass(frozen=True)
class BundleRequest:
    station_id: str
    desa: list[str]
    operators_csv: Path
    passphrase: str
    roster_csv: Path | None = None
    station_toml: Path | None = None
    """Extra station settings (``[ui]``, ``[devices.*]``, ``[power]``, ``[station] retention_days``...)."""
    usb_devices_csv: Path | None = None
    """The kit's USB-serial adapters (``role,vendor,product,serial,usb_path``) for the udev rules."""
    cert_days: int | None = None
    """MQTT certificate lifetime; None = ``[provisioning] client_cert_days``."""
    reprovision: bool = False
    new_key: bool = False
    now: datetime | None = None


@dataclass(frozen=True)
class BuiltBundle:
    data: bytes
    header: dict[str, Any]
    roster: sources.Roster
    operators: int
    token: str = field(repr=False)


def office_public_keys(office_keys: OfficeKeys) -> dict[str, str]:
    """The office's public keys every station needs, by role (the station config keys in ``OFFICE_KEY_CONFIG``)."""
    public = {"records": office_keys.recipient, "verify": office_keys.verify_key_b64}
    biometrics = getattr(office_keys, "biometrics_recipient", None)  # present once the office has two identities
    if biometrics:
        public["biometrics"] = biometrics
    return public


def build_bundle(config: OfficeConfig, request: BundleRequest) -> BuiltBundle:
    now = request.now or datetime.now(UTC)
    district = config.office.district
    desa = sources.parse_desa_codes(",".join(request.desa), district)
    office_keys = load_office_keys(config.keys_dir)
    public = office_public_keys(office_keys)
    ca = load_ca(ca_dir(config))
    if ca.district != district:
        raise BundleBuildError(f"the MQTT CA in {ca_dir(config)} is for district {ca.district}, not {district}")
    operators = sources.read_operators(request.operators_csv)
    usb_devices = read_usb_devices(request.usb_devices_csv) if request.usb_devices_csv else []
    station_config = _station_config(config, request, public)
    engine = open_db(config.database_url)
    try:
        roster = sources.roster_for_desa(engine, desa, request.roster_csv)
        registered = stations.get_station(engine, request.station_id)
        station_key_pem, public_b64 = _station_key(request, registered)
        cert = ca.issue_client(request.station_id, days=request.cert_days or config.provisioning.client_cert_days,
                               now=now)
        token = _register(engine, request, registered, public_b64, district)
    finally:
        engine.dispose()
    header = {"bundle_id": uuid.uuid4().hex, "station": request.station_id, "district": district,
              "created": now.isoformat(timespec="seconds"), "office_verify_key": public["verify"],
              "cert_not_after": cert.not_after.isoformat(timespec="seconds"), "desa": desa}
    payload = {
        "station": request.station_id, "district": district, "office_verify_key": public["verify"],
        "office_keys": public, "station_config": station_config,
        "station_key_pem": station_key_pem, "station_public_key": public_b64, "token": token,
        "mqtt": {"ca_pem": ca.cert_pem.decode("ascii"), "cert_pem": cert.cert_pem.decode("ascii"),
                 "key_pem": cert.key_pem.decode("ascii")},
        "operators": operators, "roster_csv": roster.csv_text, "desa": sources.desa_names(desa),
        "usb_devices": usb_devices,
    }
    data = bundle_format.seal_bundle(header, payload, passphrase=request.passphrase,
                                     signing_key=office_keys.signing_key)
    return BuiltBundle(data, header, roster, len(operators), token)


def _station_config(config: OfficeConfig, request: BundleRequest, public: dict[str, str]) -> dict[str, Any]:
    """The station's TOML as a dict, without the paths ``apply`` fills in (data dir, key and token files)."""
    prov = config.provisioning
    station: dict[str, Any] = {"id": request.station_id, "district": config.office.district}
    result: dict[str, Any] = {"station": station,
                              "office": {OFFICE_KEY_CONFIG[role]: value for role, value in public.items()}}
    if prov.office_url:
        result["office"]["url"] = prov.office_url
    if prov.mqtt_host:
        result["mqtt"] = {"host": prov.mqtt_host, "port": prov.mqtt_port, "tls": True}
    if request.station_toml is not None:
        try:
            extra = read_toml(request.station_toml)
        except ConfigError as exc:
            raise BundleBuildError(str(exc)) from None
        for section, value in extra.items():
            if section == "station" and isinstance(value, dict):
                bad = sorted(set(value) - set(EXTRA_STATION_KEYS))
                if bad:
                    raise BundleBuildError(f"{request.station_toml}: [station] {bad[0]} is set by the office, "
                                           f"not per station (allowed: {', '.join(EXTRA_STATION_KEYS)})")
                station.update(value)
            elif section in EXTRA_SECTIONS:
                result[section] = value
            else:
                raise BundleBuildError(f"{request.station_toml}: section [{section}] cannot be set per station "
                                       f"(allowed: station, {', '.join(EXTRA_SECTIONS)})")
    probe = {**result, "station": {**station, "data_dir": "/var/lib/jemput"}}
    if "mqtt" in probe:   # apply fills in the certificate paths from the bundle's own files
        probe["mqtt"] = {**probe["mqtt"], "ca": layout.MQTT_CA, "cert": layout.MQTT_CERT, "key": layout.MQTT_KEY}
    try:
        config_from_dict(probe, source=request.station_toml)  # a bad setting fails here, not in a village hall
    except ConfigError as exc:
        raise BundleBuildError(f"station config would be invalid: {exc}") from None
    return result


def _station_key(request: BundleRequest, registered: stations.StationRecord | None) -> tuple[str | None, str]:
    if registered is None:
        if request.reprovision:
            raise BundleBuildError(f"station {request.station_id} is not registered yet: build a first bundle "
                                   "without --reprovision")
    elif not request.reprovision:
        raise BundleBuildError(
            f"station {request.station_id} is already registered. To re-provision the same card (its key and "
            "unsent records stay) use --reprovision; for a replaced card add --new-key.")
    if registered is not None and not request.new_key:
        return None, registered.public_key_b64
    key = keys.generate_signing_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    return pem, keys.public_key_b64(key)


def _register(engine: Any, request: BundleRequest, registered: stations.StationRecord | None, public_b64: str,
              district: str) -> str:
    """Register (first bundle) or rotate the token (re-provisioning); the old token stops working at once."""
    try:
        if registered is None:
            return stations.register_station(engine, request.station_id, public_b64, district)
        if registered.district != district:
            raise BundleBuildError(f"station {request.station_id} is registered for district {registered.district}")
        if request.new_key:
            stations.replace_public_key(engine, request.station_id, public_b64)
        return stations.rotate_token(engine, request.station_id)
    except stations.StationError as exc:
        raise BundleBuildError(str(exc)) from None


def write_bundle_file(path: Path, data: bytes) -> None:
    """0600 and atomic: the file holds sealed secrets and the office signature; a half-written one is useless."""
    keys.write_secret_file(Path(path), data, overwrite=True)
