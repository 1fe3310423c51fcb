"""systemd units, the hardware-watchdog drop-in and the udev rules, installed as ``systemctl enable`` would.

The unit files and rules are the repository's ``systemd/`` and ``udev/`` files, copied unchanged. Enabling is the
``WantedBy=multi-user.target`` symlink, made directly so it works the same under ``--root`` (no systemd needed to
prepare a card). The watchdog drop-in sets ``RuntimeWatchdogSec=14``: systemd pets the Pi's hardware watchdog
(BCM2835, whose longest timeout is about 15 s), so a kernel or PID 1 hang reboots the station instead of leaving
a dark kiosk in a village hall until someone drives out.
"""

from __future__ import annotations

import shutil
import subprocess

from provisioning.files import FileWriter
from provisioning.layout import (
    SYSTEM_CONF_DIR,
    UDEV_RULES,
    UDEV_RULES_DIR,
    UNIT_DIR,
    UNITS,
    WANTS_DIR,
    WATCHDOG_DROPIN,
    shipped_file,
)
from provisioning.udev_rules import render_rules

KIOSK_SESSION = "/usr/local/lib/jemput/kiosk-session"
POLKIT_RULE = "/etc/polkit-1/rules.d/50-jemput-poweroff.rules"
POLKIT_POWEROFF = """// Installed by jemput provision apply: the station service (user jemput, no privileges
// of its own) may power the Pi off through logind when the battery is empty, and nothing else.
polkit.addRule(function(action, subject) {
    if ((action.id == "org.freedesktop.login1.power-off" ||
         action.id == "org.freedesktop.login1.power-off-multiple-sessions") && subject.user == "jemput") {
        return polkit.Result.YES;
    }
});
"""
WATCHDOG_SEC = 14
WATCHDOG_CONF = f"""# Installed by jemput provision apply: systemd pets the hardware watchdog; if PID 1 or the
# kernel hangs for {WATCHDOG_SEC} s the Pi resets itself (the BCM2835 watchdog's maximum is about 15 s).
[Manager]
RuntimeWatchdogSec={WATCHDOG_SEC}
RebootWatchdogSec=2min
"""


def install_units(writer: FileWriter) -> None:
    writer.ensure_dir(UNIT_DIR, 0o755)
    for unit in UNITS:
        writer.write(f"{UNIT_DIR}/{unit}", shipped_file("systemd", unit).read_bytes(), 0o644)
        writer.symlink(f"{WANTS_DIR}/{unit}", f"{UNIT_DIR}/{unit}")
    writer.write(f"{SYSTEM_CONF_DIR}/{WATCHDOG_DROPIN}", WATCHDOG_CONF.encode("ascii"), 0o644)


def install_udev_rules(writer: FileWriter, usb_devices: list[dict[str, str]] | None) -> None:
    writer.write(f"{UDEV_RULES_DIR}/{UDEV_RULES}", render_rules(usb_devices).encode("ascii"), 0o644)


def install_kiosk_session(writer: FileWriter) -> None:
    writer.write(KIOSK_SESSION, shipped_file("systemd", "kiosk-session").read_bytes(), 0o755)


def install_poweroff_rule(writer: FileWriter) -> None:
    writer.write(POLKIT_RULE, POLKIT_POWEROFF.encode("ascii"), 0o644)


def reload_live_system(changed: list[str]) -> list[str]:
    """On the running Pi: make systemd and udev read what changed. Returns what was run."""
    ran = []
    if any(c.startswith(("/etc/systemd", "/etc/jemput")) for c in changed) and shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False, timeout=60)
        ran.append("systemctl daemon-reload")
    if any(c.startswith(UDEV_RULES_DIR) for c in changed) and shutil.which("udevadm"):
        subprocess.run(["udevadm", "control", "--reload-rules"], check=False, timeout=60)
        subprocess.run(["udevadm", "trigger", "--subsystem-match=tty", "--action=add"], check=False, timeout=60)
        ran.append("udevadm control --reload-rules; udevadm trigger")
    return ran
