"""Fixtures: emulated R30x modules on real pseudo-terminals, and drivers opened on them through pyserial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from device_drivers.fingerprint import R30xSensor
from device_drivers.fingerprint.emulator import FakeR30x


@pytest.fixture
def make_emulator(tmp_path) -> Iterator:
    """Factory: ``make_emulator("R503", pace=False, ...)`` -> a started FakeR30x, closed after the test."""
    made: list[FakeR30x] = []

    def make(model: str = "R307", **kwargs) -> FakeR30x:
        kwargs.setdefault("pace", False)
        emulator = FakeR30x(model, link_dir=str(tmp_path / f"dev{len(made)}"), **kwargs)
        (tmp_path / f"dev{len(made)}").mkdir()
        made.append(emulator.start())
        return emulator

    yield make
    for emulator in made:
        emulator.close()


@pytest.fixture
def make_sensor() -> Iterator:
    """Factory: ``make_sensor(port, **kwargs)`` -> an R30xSensor with short timeouts, closed after the test."""
    made: list[R30xSensor] = []

    def make(port: str, **kwargs) -> R30xSensor:
        kwargs.setdefault("timeout_s", 0.5)
        sensor = R30xSensor(port, **kwargs)
        made.append(sensor)
        return sensor

    yield make
    for sensor in made:
        sensor.close()
