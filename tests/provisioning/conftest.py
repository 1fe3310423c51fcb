"""Provisioning fixtures (helpers in prov_helpers.py, importable by the test modules)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from prov_helpers import ProvOffice, start_office  # noqa: E402


@pytest.fixture
def prov_office(tmp_path: Path) -> Iterator[ProvOffice]:
    office = start_office(tmp_path)
    yield office
    office.server.stop()
    office.engine.dispose()


@pytest.fixture
def root_image(tmp_path: Path) -> Path:
    """A Raspberry Pi OS-like root with only the account files (so apply can make its users with --prefix)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\ndialout:x:20:pi\nvideo:x:44:pi\npi:x:1000:\n")
    return root


