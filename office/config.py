"""Typed office configuration, read from TOML (every key in docs/office-receiver.md).

Same strictness as the station's config (unknown key, missing key or wrong type -> one ``ConfigError`` naming the
key and file); the generic dataclass loader is the station's, so both read TOML by the same rules.
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.config import NOT_A_KEY, build_dataclass, read_toml  # the shared strict TOML loader
from station.errors import ConfigError

DB_NAME = "office.db"


@dataclass(frozen=True)
class OfficeSection:
    district: str
    """Four-digit kode kabupaten/kota this office serves, e.g. ``6106``."""
    data_dir: Path = Path("/var/lib/jemput-office")
    """Keys, database, received packets, staging and quarantine."""
    host: str = "127.0.0.1"
    """Address the receiver binds to; put a TLS reverse proxy in front for stations."""
    port: int = 8090
    database_url: str = ""
    """SQLAlchemy URL, e.g. ``postgresql+psycopg://jemput@/jemput``; empty = SQLite ``<data_dir>/office.db``."""
    max_upload_mb: int = 64
    """Largest packet accepted (Upload-Length); bigger uploads get 413."""
    threads: int = 8
    """HTTP worker threads (each long-lived stream, e.g. the dashboard's live updates, holds one)."""
    upload_expiry_hours: int = 24
    """An unfinished upload not touched for this long expires (tus ``Upload-Expires``): its staging bytes are
    deleted, at start and every 10 minutes."""
    location_lat: float | None = None
    """Latitude (WGS 84) of the office: the planner's distances start here, e.g. ``0.8363`` (Putussibau)."""
    location_lng: float | None = None
    """Longitude (WGS 84) of the office, e.g. ``112.9311``."""


@dataclass(frozen=True)
class OfficeMqttSection:
    host: str = ""
    """Broker host for telemetry ingest; empty disables it."""
    port: int = 8883
    tls: bool = True
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    username: str = ""
    password: str = ""
    keepalive: int = 60


@dataclass(frozen=True)
class DashboardSection:
    idle_logout_s: int = 900
    """A dashboard login ends after this long without a page request (live updates do not count)."""
    max_failed_logins: int = 5
    """Wrong passwords in a row before the account is locked."""
    lockout_s: int = 300
    """How long a locked account stays locked."""
    cookie_secure: bool = False
    """Send the session cookie only over HTTPS; set true behind the TLS reverse proxy."""
    command_lifetime_s: int = 600
    """How long a command waits for an offline station (at most 600, the station's limit)."""
    answer_wait_s: int = 30
    """After this long without a reply a command shows "no answer yet"."""
    timezone: str = "Asia/Jakarta"
    """Times and days on the dashboard are shown in this zone (WIB for Kalimantan Barat)."""


@dataclass(frozen=True)
class AlertsSection:
    consecutive: int = 3
    """Statuses in a row a condition must hold to raise an alert, and be gone to clear it."""
    battery_percent: int = 20
    """Battery alert at or below this percentage while on battery."""
    offline_after_s: int = 1800
    """Offline alert when a station with an open session has been offline this long."""
    stuck_after_s: int = 300
    """Stuck alert when a station says online but no status came for this long."""
    pending_after_h: int = 72
    """Alert when the oldest pending record at the station is older than this many hours (3 days)."""
    storage_low_mb: int = 1024
    """Alert when free storage falls below this."""
    clock_skew_s: int = 300
    """Alert when a status's ``ts`` differs from the time it arrived by more than this."""
    check_interval_s: int = 5
    """How often the time-based rules (offline, stuck, rejected packets) are checked."""


@dataclass(frozen=True)
class ProvisioningSection:
    """What ``jemput provision bundle`` writes into every station's bundle (docs/deployment.md)."""

    office_url: str = ""
    """The office URL as stations reach it, e.g. ``https://jemput.example.go.id``; empty = stations do not upload."""
    mqtt_host: str = ""
    """The broker host as stations reach it; empty = stations send no telemetry."""
    mqtt_port: int = 8883
    broker_hosts: str = ""
    """Comma-separated host names / IP addresses in the broker's TLS certificate; empty = ``mqtt_host``."""
    client_cert_days: int = 730
    """Lifetime of a station's MQTT client certificate; a station with an expired one must be re-provisioned."""


@dataclass(frozen=True)
class OfficeConfig:
    office: OfficeSection
    mqtt: OfficeMqttSection = field(default_factory=OfficeMqttSection)
    dashboard: DashboardSection = field(default_factory=DashboardSection)
    alerts: AlertsSection = field(default_factory=AlertsSection)
    provisioning: ProvisioningSection = field(default_factory=ProvisioningSection)
    source: Path | None = field(default=None, metadata=NOT_A_KEY)
    """The file this config was read from (not a TOML key)."""

    @property
    def database_url(self) -> str:
        return self.office.database_url or f"sqlite:///{self.office.data_dir / DB_NAME}"

    @property
    def office_location(self) -> tuple[float, float] | None:
        if self.office.location_lat is None or self.office.location_lng is None:
            return None
        return self.office.location_lat, self.office.location_lng

    @property
    def keys_dir(self) -> Path:
        return self.office.data_dir / "keys"

    @property
    def packets_dir(self) -> Path:
        return self.office.data_dir / "packets"

    @property
    def staging_dir(self) -> Path:
        return self.office.data_dir / "staging"

    @property
    def quarantine_dir(self) -> Path:
        return self.office.data_dir / "quarantine"

    @property
    def max_upload_bytes(self) -> int:
        return self.office.max_upload_mb * 1024 * 1024


def load_office_config(path: str | Path) -> OfficeConfig:
    path = Path(path)
    return office_config_from_dict(read_toml(path), source=path)


def office_config_from_dict(raw: dict[str, Any], source: Path | None = None) -> OfficeConfig:
    where = str(source) if source else "<office config>"
    config = dataclasses.replace(build_dataclass(OfficeConfig, raw, "", where), source=source)
    _check_values(config, where)
    return config


def _check_values(config: OfficeConfig, where: str) -> None:
    """Every key's value, at load: one ``ConfigError`` naming the key and the file, exit 2 from the CLI."""
    def fail(key: str, why: str) -> None:
        raise ConfigError(f"{where}: key '{key}' {why}")

    o, m = config.office, config.mqtt
    if not re.fullmatch(r"\d{4}", o.district):
        fail("office.district", "must be the 4-digit kode kabupaten/kota, e.g. '6106'")
    if not 1 <= config.provisioning.client_cert_days <= 3650:
        fail("provisioning.client_cert_days", "must be 1-3650")
    if not str(o.data_dir).strip():
        fail("office.data_dir", "must be a directory path")
    if not o.host.strip():
        fail("office.host", "must be an address to bind, e.g. '127.0.0.1'")
    for key, port in (("office.port", o.port), ("mqtt.port", m.port),
                      ("provisioning.mqtt_port", config.provisioning.mqtt_port)):
        if not 0 <= port < 65536:
            fail(key, "must be a TCP port (1-65535; 0 = any free port)")
    if not 1 <= o.max_upload_mb <= 1024:
        fail("office.max_upload_mb", "must be 1-1024")
    if not 1 <= o.threads <= 256:
        fail("office.threads", "must be 1-256")
    lat, lng = config.office.location_lat, config.office.location_lng
    if (lat is None) != (lng is None):
        fail("office.location_lat" if lat is None else "office.location_lng",
             "must be given together with the other (office location for the planner's distances)")
    if lat is not None and not -90 <= lat <= 90:
        fail("office.location_lat", "must be a latitude between -90 and 90")
    if lng is not None and not -180 <= lng <= 180:
        fail("office.location_lng", "must be a longitude between -180 and 180")
    _check_dashboard(config, fail)
    if not 1 <= o.upload_expiry_hours <= 24 * 90:
        fail("office.upload_expiry_hours", "must be 1-2160")
    if o.database_url and "://" not in o.database_url:
        fail("office.database_url", "must be an SQLAlchemy URL such as 'postgresql+psycopg://user@host/db'")
    if not 1 <= m.keepalive <= 65535:
        fail("mqtt.keepalive", "must be 1-65535 seconds")
    if m.host and m.tls:
        for key, value in (("mqtt.cert", m.cert), ("mqtt.key", m.key)):
            if value is None:
                fail(key, "is required with tls = true (the office's client certificate and its key)")
    if m.tls:
        for key, value in (("mqtt.ca", m.ca), ("mqtt.cert", m.cert), ("mqtt.key", m.key)):
            if value is not None and not _readable(value):
                fail(key, f"names {value}, which is not a readable file")


def _check_dashboard(config: OfficeConfig, fail: Any) -> None:
    d, a = config.dashboard, config.alerts
    if d.idle_logout_s < 60:
        fail("dashboard.idle_logout_s", "must be at least 60")
    if not 1 <= d.max_failed_logins <= 100:
        fail("dashboard.max_failed_logins", "must be 1-100")
    if d.lockout_s < 1:
        fail("dashboard.lockout_s", "must be at least 1")
    if not 10 <= d.command_lifetime_s <= 600:
        fail("dashboard.command_lifetime_s", "must be 10-600 (stations refuse longer-lived commands)")
    try:
        zoneinfo.ZoneInfo(d.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        fail("dashboard.timezone", f"{d.timezone!r} is not a known time zone (e.g. 'Asia/Jakarta')")
    if d.answer_wait_s < 1:
        fail("dashboard.answer_wait_s", "must be at least 1")
    if not 1 <= a.consecutive <= 100:
        fail("alerts.consecutive", "must be 1-100")
    if not 0 <= a.battery_percent <= 100:
        fail("alerts.battery_percent", "must be 0-100")
    for key in ("offline_after_s", "stuck_after_s", "clock_skew_s", "storage_low_mb", "pending_after_h"):
        if getattr(a, key) < 1:
            fail(f"alerts.{key}", "must be at least 1")
    if not 1 <= a.check_interval_s <= 300:
        fail("alerts.check_interval_s", "must be 1-300")


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False
