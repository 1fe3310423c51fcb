"""The office's files are private: the station registry, token hashes, receipts and the packets are nobody else's
business on the office machine. Directories 0700, files 0600, whatever the umask, and existing installs are
tightened at start (the same rule as the station's data dir)."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700, and make an existing one 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_sqlite_file(db_file: Path) -> None:
    """Before SQLite opens ``db_file``: its directory 0700, the file created 0600 (SQLite gives its -wal and -shm
    files the database file's mode), and any existing database and side files made 0600."""
    private_dir(db_file.parent)
    fd = os.open(db_file, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for path in (db_file, *(db_file.with_name(db_file.name + side) for side in SQLITE_SIDE_FILES)):
        if path.exists():
            os.chmod(path, FILE_MODE)


def create_private_file(path: Path) -> int:
    """``open(path, 'xb')`` with mode 0600: returns the descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)


def tighten_tree(directory: Path) -> None:
    """Existing files in ``directory`` to 0600 (left 0644 by an older version)."""
    for entry in directory.iterdir():
        if entry.is_file() and entry.stat().st_mode & 0o077:
            os.chmod(entry, FILE_MODE)
