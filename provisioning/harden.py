"""``jemput provision harden``: make the SD card survive a year of power cuts.

Three changes, each idempotent:

1. **journald in RAM** with a size cap (``Storage=volatile``, ``RuntimeMaxUse=32M``): logs stop wearing the card
   and can never fill it; what matters (records, audit log) is in the store, not in the journal.
2. **A separate writable partition for /var/lib/jemput**, mounted by label (``LABEL=JEMPUT-DATA``), never by
   ``/dev/mmcblk0pN`` (a USB stick plugged in at boot can shift device names). The known trap: a partition in
   ``/etc/fstab`` that is missing, slow to appear or failing its check makes systemd give up on
   ``local-fs.target`` after 90 s and boot into *emergency mode* — on a kiosk with no keyboard, a dead station.
   So the entry has ``nofail`` and ``x-systemd.device-timeout=10s`` (boot always continues), the partition must
   exist and carry the label before the line is written (on the live system), and instead of the boot the
   *station* depends on it: a drop-in gives ``jemput-station.service`` ``RequiresMountsFor=/var/lib/jemput``
   and ``ConditionPathIsMountPoint=/var/lib/jemput``, so records never land on the RAM overlay where the next
   power cut would erase them.
3. **Read-only root** with Raspberry Pi OS's overlay: ``raspi-config nonint enable_overlayfs`` (the stock
   ``overlayroot`` package: a tmpfs upper layer, so nothing but the data partition is written while running).
   Under ``--root`` there is no Pi to run it on: it is reported as the step left for the first boot.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from provisioning.files import FileWriter
from provisioning.layout import DATA_DIR, JOURNALD_CONF_DIR, UNIT_DIR, Layout
from station.errors import JemputError

DATA_LABEL = "JEMPUT-DATA"
FSTAB = "/etc/fstab"
JOURNALD_DROPIN = f"{JOURNALD_CONF_DIR}/50-jemput-volatile.conf"
JOURNALD_CONF = """# Installed by jemput provision harden: logs in RAM, capped,
# so they neither wear nor fill the SD card.
[Journal]
Storage=volatile
RuntimeMaxUse=32M
RuntimeMaxFileSize=8M
ForwardToSyslog=no
"""
STATION_DROPIN = f"{UNIT_DIR}/jemput-station.service.d/50-data-partition.conf"
STATION_DROPIN_CONF = f"""# Installed by jemput provision harden: the station runs only on its data partition,
# never on the RAM overlay of the read-only root (records written there would vanish at the next power cut).
[Unit]
RequiresMountsFor={DATA_DIR}
ConditionPathIsMountPoint={DATA_DIR}
"""
FSTAB_OPTIONS = "defaults,noatime,commit=5,nofail,x-systemd.device-timeout=10s"


class HardenError(JemputError):
    """A hardening step cannot be done safely here; nothing after it was changed."""


def fstab_line(source: str) -> str:
    return f"{source} {DATA_DIR} ext4 {FSTAB_OPTIONS} 0 2"


def harden(layout: Layout, *, data_device: str | None = None, dry_run: bool = False) -> list[str]:
    out: list[str] = []
    source = _data_source(layout, data_device)
    if dry_run:
        return [f"would write {JOURNALD_DROPIN}", f"would add to {FSTAB}: {fstab_line(source)}",
                f"would write {STATION_DROPIN}", "would run: raspi-config nonint enable_overlayfs"]
    writer = FileWriter(layout)
    writer.write(JOURNALD_DROPIN, JOURNALD_CONF.encode("ascii"), 0o644)
    writer.write(FSTAB, _fstab_with(layout, source).encode("utf-8"), 0o644)
    writer.write(STATION_DROPIN, STATION_DROPIN_CONF.encode("ascii"), 0o644)
    writer.ensure_dir(DATA_DIR, 0o700)
    out.extend(f"changed: {c}" for c in writer.changed)
    if layout.is_live_system:
        out.append(_enable_overlay())
    else:
        out.append("left for the Pi: 'sudo raspi-config nonint enable_overlayfs' (or run 'jemput provision "
                   "harden' there), then reboot")
    if not writer.changed and not layout.is_live_system:
        out.insert(0, "already hardened: nothing changed")
    return out


def _data_source(layout: Layout, data_device: str | None) -> str:
    """``LABEL=JEMPUT-DATA`` (checked to exist on the live system) or the device given."""
    if data_device is None:
        if layout.is_live_system and not Path(f"/dev/disk/by-label/{DATA_LABEL}").exists():
            raise HardenError(
                f"no partition labelled {DATA_LABEL}: create one after the root partition (docs/deployment.md, "
                f"'The SD card'), format it with 'mkfs.ext4 -L {DATA_LABEL}', or give --data-device. Nothing "
                "was changed (an fstab line for a missing partition is how a station boots into emergency mode).")
        return f"LABEL={DATA_LABEL}"
    if layout.is_live_system and not Path(data_device).exists():
        raise HardenError(f"{data_device} does not exist; nothing was changed")
    return data_device


def _fstab_with(layout: Layout, source: str) -> str:
    path = layout.host(FSTAB)
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    kept = [ln for ln in current.splitlines() if not (ln.split()[1:2] == [DATA_DIR] and not ln.startswith("#"))]
    return "\n".join([*kept, fstab_line(source)]) + "\n"


def _enable_overlay() -> str:
    if shutil.which("raspi-config") is None:
        raise HardenError("raspi-config not found: this is not Raspberry Pi OS. Install the 'overlayroot' "
                          "package and set overlayroot=\"tmpfs\" in /etc/overlayroot.local.conf instead.")
    done = subprocess.run(["raspi-config", "nonint", "enable_overlayfs"], capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise HardenError(f"raspi-config nonint enable_overlayfs failed: {done.stderr.strip()}")
    return "overlay enabled (raspi-config nonint enable_overlayfs); reboot to make the root read-only"
