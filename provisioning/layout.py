"""Where an installed station keeps its files (DESIGN §12), under a root that is ``/`` on a real Pi.

``--root DIR`` puts every path under DIR. By default the config written there names the DIR paths, so the
station can run in place (tests, a staging copy). ``card=True`` is for a card mounted on another machine: files
go under DIR but the config names the paths the booted card will see (``/var/lib/jemput``...).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = "/etc/jemput"
CONFIG_FILE = "/etc/jemput/station.toml"
DATA_DIR = "/var/lib/jemput"
KEYS_DIR = "/var/lib/jemput/keys"
STATION_KEY = "/var/lib/jemput/keys/station.key"
TOKEN_FILE = "/var/lib/jemput/keys/office-token"
MQTT_CA = "/var/lib/jemput/keys/mqtt-ca.pem"
MQTT_CERT = "/var/lib/jemput/keys/mqtt-client.pem"
MQTT_KEY = "/var/lib/jemput/keys/mqtt-client.key"
UNIT_DIR = "/etc/systemd/system"
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
SYSTEM_CONF_DIR = "/etc/systemd/system.conf.d"
JOURNALD_CONF_DIR = "/etc/systemd/journald.conf.d"
UDEV_RULES_DIR = "/etc/udev/rules.d"
PASSWD = "/etc/passwd"
GROUP = "/etc/group"

STATION_USER = "jemput"
STATION_GROUPS = ("dialout", "video", "i2c", "gpio")
"""Serial sensor/pad/printer, camera, battery gauge, power-loss pin (Raspberry Pi OS has all four groups)."""
KIOSK_USER = "jemput-kiosk"
KIOSK_GROUPS = ("video", "render", "input", "tty")
"""The compositor and Chromium run apart from the station's data: a browser exploit does not reach the keys."""

UNITS = ("jemput-station.service", "jemput-kiosk.service")
"""Installed and enabled on a station; ``jemput-office.service`` is for the office machine."""
UDEV_RULES = "70-jemput.rules"
WATCHDOG_DROPIN = "50-jemput-watchdog.conf"


@dataclass(frozen=True)
class Layout:
    root: Path = Path("/")
    card: bool = False

    @property
    def is_live_system(self) -> bool:
        return self.root.resolve() == Path("/")

    def host(self, system_path: str) -> Path:
        """Where ``system_path`` is on this machine."""
        return self.root / system_path.lstrip("/")

    def named(self, system_path: str) -> str:
        """How the station's config names ``system_path``."""
        return system_path if (self.card or self.is_live_system) else str(self.host(system_path))


def shipped_file(folder: str, name: str) -> Path:
    """A file from the repository's ``systemd/`` or ``udev/`` folder: beside the package in a checkout or an
    editable install, under ``<prefix>/share/jemput/`` in an installed wheel."""
    candidates = [Path(__file__).resolve().parent.parent / folder / name,
                  Path(sys.prefix) / "share" / "jemput" / folder / name]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{folder}/{name} is not installed (looked in {', '.join(map(str, candidates))})")
