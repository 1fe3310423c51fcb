"""Typed office configuration, read from TOML (every key in docs/office-receiver.md).

Same strictness as the station's config (unknown key, missing key or wrong type -> one ``ConfigError`` naming the
key and file); the generic dataclass loader is the station's, so both read TOML by the same rules.
"""

from __future__ import annotations

import dataclasses
import re
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
class OfficeConfig:
    office: OfficeSection
    mqtt: OfficeMqttSection = field(default_factory=OfficeMqttSection)
    source: Path | None = field(default=None, metadata=NOT_A_KEY)
    """The file this config was read from (not a TOML key)."""

    @property
    def database_url(self) -> str:
        return self.office.database_url or f"sqlite:///{self.office.data_dir / DB_NAME}"

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
    if not str(o.data_dir).strip():
        fail("office.data_dir", "must be a directory path")
    if not o.host.strip():
        fail("office.host", "must be an address to bind, e.g. '127.0.0.1'")
    for key, port in (("office.port", o.port), ("mqtt.port", m.port)):
        if not 0 <= port < 65536:
            fail(key, "must be a TCP port (1-65535; 0 = any free port)")
    if not 1 <= o.max_upload_mb <= 1024:
        fail("office.max_upload_mb", "must be 1-1024")
    if not 1 <= o.threads <= 256:
        fail("office.threads", "must be 1-256")
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


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False
