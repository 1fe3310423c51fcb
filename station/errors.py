"""The station's error tree.

One root, so the UI and CLI can catch everything the station means to report and show its message; drivers'
errors (``device_drivers.errors``) are translated into these at the service boundary.
"""

from __future__ import annotations


class JemputError(Exception):
    """Root of every error the station raises on purpose."""


class ConfigError(JemputError, ValueError):
    """The configuration file is missing, unreadable, or has a bad key; the message names the key and file."""


class StorageFull(JemputError, OSError):
    """The store cannot write (disk or database full); nothing committed is damaged."""


class IntegrityError(JemputError):
    """Stored data failed a check (audit chain, packet hashes)."""
