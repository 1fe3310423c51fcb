"""Typed station configuration, read from TOML.

One frozen dataclass per section, passed to the services that need it (no global settings look-up). Loading is
strict: an unknown key, a missing required key or a value of the wrong type raises one ``ConfigError`` that names
the key and the file, because a station set up wrongly in the office must fail there, not in a village hall.
Every key is documented in docs/configuration.md.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.errors import ConfigError

NOT_A_KEY: dict[str, bool] = {"toml_key": False}
"""Field metadata for dataclass fields that are filled in by the loader, never read from TOML."""


@dataclass(frozen=True)
class StationSection:
    id: str
    """Station identifier, e.g. ``kph-01``; also the MQTT client id and the TLS certificate CN."""
    district: str
    """Four-digit kode kabupaten/kota the station serves, e.g. ``6106`` (Kapuas Hulu)."""
    data_dir: Path = Path("/var/lib/jemput")
    """Where the SQLite store, sealed parts and packets live (the SD card)."""
    key_file: Path | None = None
    """Station Ed25519 private key (PEM, mode 0600); default ``<data_dir>/keys/station.key``."""
    retention_days: int = 30
    """Acknowledged packets are purged from disk after this many days."""
    min_free_mb: int = 50
    """No new enrollment starts with less free space than this on the data disk."""


@dataclass(frozen=True)
class UiSection:
    host: str = "127.0.0.1"
    """Address the kiosk UI binds to; keep loopback unless you know why."""
    port: int = 8080
    language: str = "id"
    """Default UI language: ``id`` (Bahasa Indonesia) or ``en``."""
    idle_logout_s: int = 300
    """Operators are logged out after this much inactivity."""
    allowed_hosts: str = ""
    """Extra host names the kiosk answers besides loopback and ``host`` (comma-separated, e.g. an operator
    tablet's ``kiosk.local``); any other ``Host`` header is refused (DNS rebinding)."""


@dataclass(frozen=True)
class OfficeSection:
    url: str = ""
    """Base URL of the district office, e.g. ``https://disdukcapil.example.go.id``; empty = no uploads."""
    public_key: str = ""
    """The office's *records* age X25519 recipient (``age1...``): the manifest is encrypted to it (and to
    ``biometrics_key``)."""
    biometrics_key: str = ""
    """The office's *biometrics* age X25519 recipient (``age1...``): photo, fingers and signature are encrypted to
    it alone. Required to record once ``public_key`` is set."""
    verify_key: str = ""
    """The office's Ed25519 public key (base64, raw 32 bytes): checks receipts and MQTT commands."""
    token: str = ""
    """Bearer token for uploads, or ``@/path/to/file`` to read it from a 0600 file."""
    ca: Path | None = None
    """CA certificate(s) (PEM) the office's HTTPS certificate must chain to; none = the system's CAs."""


@dataclass(frozen=True)
class MqttSection:
    host: str = ""
    """Broker host; empty disables telemetry."""
    port: int = 1883
    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    keepalive: int = 60
    status_interval_s: int = 60


@dataclass(frozen=True)
class FingerprintSection:
    port: str = "/dev/jemput-fingerprint"
    baudrate: int = 57600
    address: int = 0xFFFFFFFF
    password: int = 0
    model: str = ""
    """``R307``, ``R503``, ``AS608`` or ``ZFM-20``; empty = ask the part (costs a round trip per connection)."""
    quality_threshold: int = 40
    """Minimum 0-100 quality score accepted for a finger."""
    fast_baudrate: int = 115200
    """Once the sensor answers, the station switches it to this rate (the R30x family goes up to 115200, which
    halves the 7 s image read of 57600); 0 keeps ``baudrate``. The part keeps the rate across power cycles and
    the driver finds it at either rate."""
    max_attempts: int = 3


@dataclass(frozen=True)
class SignaturePadSection:
    port: str = "/dev/jemput-sigpad"
    baudrate: int = 19200


@dataclass(frozen=True)
class CameraSection:
    backend: str = "opencv"
    """``opencv`` (USB UVC), ``picamera2`` (CSI) or ``synthetic``."""
    source: str = "0"
    """Device index or path for ``opencv``."""
    width: int = 640
    height: int = 480


@dataclass(frozen=True)
class BatterySection:
    kind: str = "none"
    """``ina219``, ``max1704x``, ``pisugar`` or ``none``."""
    bus: int = 1
    """I2C bus number."""
    address: int | None = None
    """I2C address; none = the chip's usual one (0x42 INA219, 0x36 MAX17040/48)."""
    power_loss_pin: int | None = None
    """BCM GPIO that tells whether mains power is present; none = unknown."""
    power_loss_active_high: bool = True
    """True if the pin reads high while mains is present (false for boards that pull it low)."""
    pisugar_host: str = "127.0.0.1"
    pisugar_port: int = 8423


@dataclass(frozen=True)
class PrinterSection:
    port: str = ""
    """Serial port of the 58 mm ESC/POS slip printer (e.g. ``/dev/jemput-printer``); empty = no printer, and the
    kiosk offers no slip."""
    baudrate: int = 9600
    """9600-115200, as set on the printer (its self-test page shows it)."""


@dataclass(frozen=True)
class DevicesSection:
    fingerprint: FingerprintSection = field(default_factory=FingerprintSection)
    signature_pad: SignaturePadSection = field(default_factory=SignaturePadSection)
    camera: CameraSection = field(default_factory=CameraSection)
    battery: BatterySection = field(default_factory=BatterySection)
    printer: PrinterSection = field(default_factory=PrinterSection)


@dataclass(frozen=True)
class PowerSection:
    warn_percent: int = 20
    stop_percent: int = 10
    """Below this, no new enrollment may start."""
    shutdown_percent: int = 5
    """Below this (and not on mains), the station shuts down cleanly."""
    shutdown_grace_s: int = 30
    """How long a pending shutdown waits (mains coming back cancels it) before the station powers off."""
    full_battery_minutes: int = 180
    """How long a full battery runs the station; gives the minutes left in the first minute after mains is lost,
    before the measured drain rate takes over."""


@dataclass(frozen=True)
class Config:
    station: StationSection
    ui: UiSection = field(default_factory=UiSection)
    office: OfficeSection = field(default_factory=OfficeSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    devices: DevicesSection = field(default_factory=DevicesSection)
    power: PowerSection = field(default_factory=PowerSection)
    source: Path | None = field(default=None, metadata=NOT_A_KEY)
    """The file this config was read from (not a TOML key)."""

    @property
    def station_key_file(self) -> Path:
        return self.station.key_file or self.station.data_dir / "keys" / "station.key"

    def office_token(self) -> str:
        """The upload token, read from its file when given as ``@path``."""
        token = self.office.token
        if token.startswith("@"):
            try:
                text = Path(token[1:]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{self.source or '<config>'}: key 'office.token' names {token[1:]}, which "
                                  f"cannot be read: {exc.strerror}") from None
            if not text:
                raise ConfigError(f"{self.source or '<config>'}: key 'office.token' names {token[1:]}, which "
                                  "is empty")
            return text
        return token


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; any failure is one ``ConfigError`` naming the file (shared with the office config)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    return config_from_dict(read_toml(path), source=path)


def config_from_dict(raw: dict[str, Any], source: Path | None = None) -> Config:
    """Build a validated ``Config`` from parsed TOML (also used by tests and the demo)."""
    where = str(source) if source else "<config>"
    config = build_dataclass(Config, raw, "", where)
    config = dataclasses.replace(config, source=source)
    _check_values(config, where)
    return config


def build_dataclass(cls: type, raw: Any, prefix: str, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table strictly (shared by the office config loader)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [{prefix.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("toml_key", True)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{prefix}{unknown[0]}'")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}: missing required key '{key}'")
            continue
        values[name] = _coerce(hints[name], raw[name], key, where)
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, key + ".", where)
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, where)
    expected = {str: str, int: int, bool: bool, Path: str, float: (int, float)}[hint]
    ok = isinstance(value, expected) and not (expected in (int, (int, float)) and isinstance(value, bool))
    if not ok:
        raise ConfigError(
            f"{where}: key '{key}' must be {_describe(expected)}, got {type(value).__name__} {value!r}"
        )
    if hint is float:
        return float(value)
    return Path(value) if hint is Path else value


def _describe(t: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", (int, float): "a number"}[t]


def _check_values(config: Config, where: str) -> None:
    """Every key's value, at load: a bad one is one ``ConfigError`` naming the key and the file, never a traceback
    later (or, worse, a station that runs and fails at its first capture)."""
    def fail(key: str, why: str) -> None:
        raise ConfigError(f"{where}: key '{key}' {why}")

    def in_range(key: str, value: int, low: int, high: int | None = None) -> None:
        if value < low or (high is not None and value > high):
            fail(key, f"must be {low}-{high}" if high is not None else f"must be at least {low}")

    s = config.station
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", s.id):
        fail("station.id", "must be lowercase letters, digits and '-' (e.g. 'kph-01')")
    if not re.fullmatch(r"\d{4}", s.district):
        fail("station.district", "must be the 4-digit kode kabupaten/kota, e.g. '6106'")
    if not str(s.data_dir).strip():
        fail("station.data_dir", "must be a directory path")
    in_range("station.retention_days", s.retention_days, 0, 3650)
    in_range("station.min_free_mb", s.min_free_mb, 0, 1_000_000)
    if not config.ui.host.strip():
        fail("ui.host", "must be an address to bind, e.g. '127.0.0.1'")
    if config.ui.language not in ("id", "en"):
        fail("ui.language", "must be 'id' or 'en'")
    in_range("ui.idle_logout_s", config.ui.idle_logout_s, 1, 86400)
    for key, port in (("ui.port", config.ui.port), ("mqtt.port", config.mqtt.port),
                      ("devices.battery.pisugar_port", config.devices.battery.pisugar_port)):
        if not 0 < port < 65536:
            fail(key, "must be a TCP port (1-65535)")
    _check_office(config, fail)
    _check_mqtt(config, fail)
    _check_devices(config, fail, in_range)
    p = config.power
    if not 0 <= p.shutdown_percent < p.stop_percent < p.warn_percent <= 100:
        fail("power", "needs 0 <= shutdown_percent < stop_percent < warn_percent <= 100")
    if not 0 <= p.shutdown_grace_s <= 600:
        fail("power.shutdown_grace_s", "must be 0-600 seconds")


def _check_office(config: Config, fail: Any) -> None:
    o = config.office
    if o.url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", o.url):
        fail("office.url", "must be http(s)://host[:port][/path], e.g. 'https://disdukcapil.example.go.id'")
    _check_recipient("office.public_key", o.public_key, fail)
    _check_recipient("office.biometrics_key", o.biometrics_key, fail)
    if o.biometrics_key and o.biometrics_key == o.public_key:
        fail("office.biometrics_key", "must differ from office.public_key (two office identities, DESIGN §5)")
    if o.verify_key:
        try:
            raw = base64.b64decode(o.verify_key, validate=True)
            if len(raw) != 32:
                raise ValueError
        except (binascii.Error, ValueError):
            fail("office.verify_key", "must be the office's Ed25519 public key: base64 of 32 bytes")
    if o.token.startswith("@") and Path(o.token[1:]).exists():
        # A missing file may still be on its way (provisioning writes it after the config): the uploader's
        # ``office_token()`` refuses it at start-up. One that is there must be readable and hold a token.
        config.office_token()
    elif o.token != o.token.strip() or any(c.isspace() for c in o.token):
        fail("office.token", "must not contain spaces (give '@/path/to/file' to read it from a file)")


def _check_recipient(key: str, value: str, fail: Any) -> None:
    """An office age recipient is checked at load: a bad one would only fail at the first capture's seal."""
    if not value:
        return
    if not value.startswith("age1"):
        fail(key, "must be an age X25519 recipient starting with 'age1'")
    try:
        from pyrage import x25519

        x25519.Recipient.from_str(value)
    except Exception:  # noqa: BLE001 - pyrage raises its own error types for every malformed recipient
        fail(key, "is not a valid age X25519 recipient (copy it from 'jemput office init')")


def check_files(config: Config) -> None:
    """The files the config names must be there and readable: checked when the station starts, not when the
    config is parsed, because provisioning validates a config before it writes the files it names."""
    where = str(config.source) if config.source else "<config>"
    m = config.mqtt
    named = [("office.ca", config.office.ca)]
    if m.tls:
        named += [("mqtt.ca", m.ca), ("mqtt.cert", m.cert), ("mqtt.key", m.key)]
    for key, value in named:
        if value is not None and not _readable(value):
            raise ConfigError(f"{where}: key '{key}' names {value}, which is not a readable file")
    if config.office.token:
        config.office_token()


def _check_mqtt(config: Config, fail: Any) -> None:
    m = config.mqtt
    if not 1 <= m.keepalive <= 65535:
        fail("mqtt.keepalive", "must be 1-65535 seconds")
    if m.status_interval_s < 1:
        fail("mqtt.status_interval_s", "must be at least 1 second")
    if m.tls and m.host:
        for key, value in (("mqtt.cert", m.cert), ("mqtt.key", m.key)):
            if value is None:
                fail(key, "is required with tls = true (the station's client certificate and its key)")


def _check_devices(config: Config, fail: Any, in_range: Any) -> None:
    d = config.devices
    f = d.fingerprint
    if f.baudrate not in R30X_BAUDRATES:
        fail("devices.fingerprint.baudrate", "must be a multiple of 9600 from 9600 to 115200 (R30x)")
    in_range("devices.fingerprint.address", f.address, 0, 0xFFFFFFFF)
    in_range("devices.fingerprint.password", f.password, 0, 0xFFFFFFFF)
    if f.model not in ("", "R307", "R503", "AS608", "ZFM-20"):
        fail("devices.fingerprint.model", "must be 'R307', 'R503', 'AS608', 'ZFM-20' or empty (ask the part)")
    in_range("devices.fingerprint.quality_threshold", f.quality_threshold, 0, 100)
    in_range("devices.fingerprint.max_attempts", f.max_attempts, 1, 10)
    for key, port in (("devices.fingerprint.port", f.port), ("devices.signature_pad.port", d.signature_pad.port)):
        if not port.strip():
            fail(key, "must be a serial port path or pyserial URL")
    in_range("devices.signature_pad.baudrate", d.signature_pad.baudrate, 1200, 921600)
    if d.camera.backend not in ("opencv", "picamera2", "synthetic"):
        fail("devices.camera.backend", "must be 'opencv', 'picamera2' or 'synthetic'")
    in_range("devices.camera.width", d.camera.width, 160, 8192)
    in_range("devices.camera.height", d.camera.height, 120, 8192)
    b = d.battery
    if b.kind not in ("ina219", "max1704x", "pisugar", "none"):
        fail("devices.battery.kind", "must be 'ina219', 'max1704x', 'pisugar' or 'none'")
    in_range("devices.battery.bus", b.bus, 0, 255)
    if b.address is not None:
        in_range("devices.battery.address", b.address, 0x03, 0x77)
    if b.power_loss_pin is not None:
        in_range("devices.battery.power_loss_pin", b.power_loss_pin, 0, 27)
    if b.kind == "pisugar" and not b.pisugar_host.strip():
        fail("devices.battery.pisugar_host", "must be a host name or address")


R30X_BAUDRATES = tuple(9600 * n for n in range(1, 13))
"""What an R30x sensor can be set to (N x 9600, N = 1..12)."""


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False
