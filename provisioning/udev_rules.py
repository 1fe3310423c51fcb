"""udev rules that give the station's serial parts stable names: ``/dev/jemput-fingerprint``, ``/dev/jemput-sigpad``,
``/dev/jemput-printer`` (DESIGN §12; the config's default ports).

USB-serial adapters enumerate as ``ttyUSB0``, ``ttyUSB1``... in whatever order, so a rule per part matches what
does not change:

* **vendor, product and serial number** — for adapters that have one (FTDI FT232R, CP2102, most printers with a
  built-in CDC-ACM port). The kit's serials come from the bundle (``--usb-devices CSV`` at the office).
* **the USB socket** (``ID_PATH``) — for adapters without a serial (CH340, PL2303 clones), and the default when
  the office listed nothing: the fingerprint sensor in socket 1, the pad in socket 2, the printer in socket 3,
  as labelled on the case, for every part the office did not list. Serial rules carry a higher
  ``link_priority``, so a listed part keeps its name wherever it is plugged in.

The devices get group ``dialout`` and mode 0660: the station user is in ``dialout``, nobody else may open them.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from station.errors import JemputError

ROLES = {"fingerprint": "jemput-fingerprint", "sigpad": "jemput-sigpad", "printer": "jemput-printer"}
DEFAULT_SOCKETS = {"fingerprint": 1, "sigpad": 2, "printer": 3}
# USB socket N as udev's ID_PATH ends on each board: Pi 3B+/4/400 have a hub (usb-0:1.N); the Pi 5's sockets
# sit on two controllers (xhci-hcd.0 / xhci-hcd.1, ports 1 and 2).
SOCKET_PATHS = {
    1: ("*-usb-0:1.1:1.0", "platform-xhci-hcd.0-usb-0:1:1.0"),
    2: ("*-usb-0:1.2:1.0", "platform-xhci-hcd.1-usb-0:1:1.0"),
    3: ("*-usb-0:1.3:1.0", "platform-xhci-hcd.0-usb-0:2:1.0"),
}
_HEX4 = re.compile(r"[0-9a-f]{4}")
_SAFE = re.compile(r"[A-Za-z0-9._:*+-]{1,128}")


class UdevRuleError(JemputError, ValueError):
    """A USB device line is unusable; the message names the line and field."""


@dataclass(frozen=True)
class UsbDevice:
    role: str
    vendor: str = ""
    product: str = ""
    serial: str = ""
    usb_path: str = ""


def read_usb_devices(path: Path) -> list[dict[str, str]]:
    """``role,vendor,product,serial,usb_path`` (serial or usb_path per line) -> dicts for the bundle."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UdevRuleError(f"{path}: cannot read ({exc})") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    devices = []
    for number, row in enumerate(rows, start=2):
        device = UsbDevice(**{k: (row.get(k) or "").strip() for k in ("role", "vendor", "product", "serial",
                                                                      "usb_path")})
        check_device(device, f"{path}, line {number}")
        devices.append(device.__dict__)
    return devices


def check_device(device: UsbDevice, where: str) -> None:
    if device.role not in ROLES:
        raise UdevRuleError(f"{where}: role must be one of {', '.join(ROLES)}")
    if device.serial:
        if not (_HEX4.fullmatch(device.vendor.lower()) and _HEX4.fullmatch(device.product.lower())):
            raise UdevRuleError(f"{where}: a serial rule needs vendor and product as 4 hex digits (e.g. 0403,6001)")
    elif not device.usb_path:
        raise UdevRuleError(f"{where}: give a serial (with vendor and product) or a usb_path")
    for value in (device.serial, device.usb_path):
        if value and not _SAFE.fullmatch(value):
            raise UdevRuleError(f"{where}: {value!r} has characters a udev rule cannot hold")


def render_rules(devices: list[dict[str, str]] | None = None) -> str:
    """The rules file: the listed devices, plus socket rules for every role the list does not name by socket."""
    listed = [UsbDevice(**d) for d in (devices or [])]
    lines = ["# Installed by jemput provision apply: stable names for the station's serial parts.",
             "# Check with: ls -l /dev/jemput-*   (docs/deployment.md, 'Devices')",
             'ACTION=="remove", GOTO="jemput_end"', 'SUBSYSTEM!="tty", GOTO="jemput_end"', ""]
    for device in listed:
        check_device(device, f"usb device {device.role}")
        name = ROLES[device.role]
        if device.serial:
            lines.append(f"# {device.role}: adapter {device.vendor}:{device.product} serial {device.serial}")
            lines.append(f'ENV{{ID_VENDOR_ID}}=="{device.vendor.lower()}", ENV{{ID_MODEL_ID}}=="'
                         f'{device.product.lower()}", ENV{{ID_SERIAL_SHORT}}=="{device.serial}", '
                         f'SYMLINK+="{name}", OPTIONS+="link_priority=10", GROUP="dialout", MODE="0660"')
        else:
            lines.append(f"# {device.role}: adapter without a serial number, in USB socket {device.usb_path}")
            lines.append(f'ENV{{ID_PATH}}=="{device.usb_path}", SYMLINK+="{name}", GROUP="dialout", MODE="0660"')
    named = {d.role for d in listed}
    for role, socket in DEFAULT_SOCKETS.items():
        if role in named:
            continue
        lines.append(f"# {role}: default place, USB socket {socket} (labelled on the case)")
        for pattern in SOCKET_PATHS[socket]:
            lines.append(f'ENV{{ID_PATH}}=="{pattern}", SYMLINK+="{ROLES[role]}", GROUP="dialout", MODE="0660"')
    lines += ["", 'LABEL="jemput_end"', ""]
    return "\n".join(lines)
