"""Writing a station's files so that doing it twice changes nothing.

Every write compares first: a file whose bytes, mode and owner are already right is left alone (not even its
mtime moves), so a second ``apply`` of the same bundle reports no changes, and a card that runs read-only most of
its life is written only when something really changed. Writes are atomic (temporary file, fsync, rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.layout import Layout
from station.durable import fsync_dir

Owner = tuple[int, int] | None
"""(uid, gid), or None to leave ownership as the writing process makes it."""


@dataclass
class FileWriter:
    layout: Layout
    changed: list[str] = field(default_factory=list)
    """System paths created or changed, in order."""

    def ensure_dir(self, system_path: str, mode: int, owner: Owner = None) -> Path:
        path = self.layout.host(system_path)
        if not path.is_dir():
            path.mkdir(parents=True, mode=mode)
            self.changed.append(system_path + "/")
        self._fix_meta(path, system_path + "/", mode, owner)
        return path

    def write(self, system_path: str, data: bytes, mode: int, owner: Owner = None) -> bool:
        path = self.layout.host(system_path)
        try:
            same = path.read_bytes() == data and not path.is_symlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            same = False
        if same:
            return self._fix_meta(path, system_path, mode, owner)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode & 0o777)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            if owner is not None:
                os.chown(tmp, *owner)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
        self.changed.append(system_path)
        return True

    def symlink(self, system_path: str, target: str) -> bool:
        """A symlink as ``systemctl enable`` makes it (absolute target, as the booted system sees it)."""
        path = self.layout.host(system_path)
        if path.is_symlink() and os.readlink(path) == target:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        os.symlink(target, path)
        self.changed.append(system_path)
        return True

    def _fix_meta(self, path: Path, name: str, mode: int, owner: Owner) -> bool:
        st = path.stat()
        changed = False
        if st.st_mode & 0o7777 != mode:
            os.chmod(path, mode)
            changed = True
        if owner is not None and (st.st_uid, st.st_gid) != owner:
            os.chown(path, *owner)
            changed = True
        if changed:
            self.changed.append(name + " (mode/owner)")
        return changed
