"""The station's system users: ``jemput`` (the station service) and ``jemput-kiosk`` (compositor and browser).

Made with the system's own ``groupadd``/``useradd``/``usermod``; under ``--root DIR`` with ``--prefix DIR``, which
edits DIR/etc/passwd and DIR/etc/group without touching this machine's users. Only as root (users cannot be made
otherwise), and only where the root has an ``/etc/passwd`` (a bare folder gets files owned by whoever runs apply).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provisioning.layout import DATA_DIR, GROUP, KIOSK_GROUPS, KIOSK_USER, PASSWD, STATION_GROUPS, STATION_USER, Layout
from station.errors import JemputError

Runner = Callable[[Sequence[str]], None]


class UserSetupError(JemputError):
    """A user or group could not be created; the message holds the command's error."""


@dataclass(frozen=True)
class Accounts:
    station: tuple[int, int]
    kiosk: tuple[int, int]


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise UserSetupError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.returncode}")


def _table(path: str, layout: Layout) -> dict[str, list[str]]:
    rows = {}
    for line in layout.host(path).read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0]:
            rows[fields[0]] = fields
    return rows


def ensure_accounts(layout: Layout, changed: list[str], *, run: Runner = _run) -> Accounts | None:
    """Create the groups and users that are missing; None when users cannot be made here (see module doc)."""
    if os.geteuid() != 0 or not layout.host(PASSWD).is_file() or not layout.host(GROUP).is_file():
        return None
    prefix = [] if layout.is_live_system else ["--prefix", str(layout.root.resolve())]
    groups = _table(GROUP, layout)
    for group in dict.fromkeys(STATION_GROUPS + KIOSK_GROUPS):
        if group not in groups:
            run(["groupadd", "--system", *prefix, group])
            changed.append(f"group {group}")
    for user, wanted, home in ((STATION_USER, STATION_GROUPS, DATA_DIR),
                               (KIOSK_USER, KIOSK_GROUPS, f"/var/lib/{KIOSK_USER}")):
        if user not in _table(PASSWD, layout):
            run(["useradd", "--system", *prefix, "--user-group", "--home-dir", home, "--no-create-home",
                 "--shell", "/usr/sbin/nologin", "--comment", "Jemput", "--groups", ",".join(wanted), user])
            changed.append(f"user {user}")
            continue
        members = _table(GROUP, layout)
        missing = [g for g in wanted if user not in members[g][3].split(",")]
        if missing:
            run(["usermod", *prefix, "--append", "--groups", ",".join(missing), user])
            changed.append(f"user {user} groups {','.join(missing)}")
    users = _table(PASSWD, layout)
    return Accounts(station=(int(users[STATION_USER][2]), int(users[STATION_USER][3])),
                    kiosk=(int(users[KIOSK_USER][2]), int(users[KIOSK_USER][3])))
