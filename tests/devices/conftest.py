"""Fixtures for device tests: emulators on real ptys, driven by the real drivers."""

from __future__ import annotations

import pytest

from device_drivers.signature_pad import FakeTopazPad, TopazPad


@pytest.fixture
def fake_pad(tmp_path):
    with FakeTopazPad(link_dir=str(tmp_path)) as fake:
        yield fake


@pytest.fixture
def pad(fake_pad):
    driver = TopazPad(fake_pad.port)
    yield driver
    driver.close()
