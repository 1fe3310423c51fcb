"""PiSugar over real TCP on loopback, and the simulated battery's drain model."""

from __future__ import annotations

import pytest

from device_drivers.base import Health
from device_drivers.battery import FakePiSugarServer, PiSugarBattery, SimulatedBattery
from device_drivers.errors import DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError


def test_pisugar_reads_and_reuses_the_connection():
    with FakePiSugarServer(percent=63.1, voltage_v=3.95, plugged=True, charging=False) as server:
        battery = PiSugarBattery("127.0.0.1", server.port)
        r = battery.read()
        assert (r.percent, r.voltage_v, r.on_mains, r.charging) == (63.1, 3.95, True, False)
        server.percent, server.plugged = 12.5, False
        r = battery.read()
        assert (r.percent, r.on_mains) == (12.5, False)
        battery.close()


def test_pisugar_server_gone_gives_typed_error_then_recovers():
    server = FakePiSugarServer().start()
    port = server.port
    battery = PiSugarBattery("127.0.0.1", port, timeout_s=1.0)
    battery.read()
    server.stop()
    with pytest.raises(DeviceDisconnected):
        battery.read()
    assert battery.status().health is Health.ABSENT
    with pytest.raises(DeviceDisconnected):  # still gone: refused, not hung
        battery.read()
    server = FakePiSugarServer(port=port, percent=55.0).start()
    try:
        assert battery.read().percent == 55.0
        assert battery.status().health is Health.OK
    finally:
        server.stop()
        battery.close()


def test_pisugar_wedged_server_times_out():
    with FakePiSugarServer() as server:
        server.hang = True
        battery = PiSugarBattery("127.0.0.1", server.port, timeout_s=0.3)
        with pytest.raises(DeviceTimeout):
            battery.read()
        server.hang = False
        assert battery.read().percent == pytest.approx(63.1)
        battery.close()


def test_pisugar_bad_answer_is_a_protocol_error():
    with FakePiSugarServer() as server:
        server.answer = lambda cmd: "battery: lots"
        battery = PiSugarBattery("127.0.0.1", server.port, timeout_s=1.0)
        with pytest.raises(ProtocolError, match="not a number"):
            battery.read()
        assert battery.status().health is Health.FAULT
        battery.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_simulated_battery_drains_and_charges_with_injected_time():
    clock = Clock()
    battery = SimulatedBattery(percent=50, on_mains=False, drain_percent_per_min=0.5, charge_percent_per_min=1.0,
                               clock=clock)
    clock.now += 600  # 10 min on battery at 0.5 %/min -> 45 %
    r = battery.read()
    assert r.percent == pytest.approx(45.0) and r.on_mains is False and r.current_a < 0
    assert r.voltage_v == pytest.approx(2 * (3.0 + 1.2 * 0.45))
    battery.restore_mains()
    clock.now += 300  # 5 min on mains at 1 %/min -> 50 %
    r = battery.read()
    assert r.percent == pytest.approx(50.0) and r.charging is True
    clock.now += 3600
    assert battery.read().percent == 100.0 and battery.read().charging is False
    battery.cut_mains()
    clock.now += 60
    assert battery.read().percent == pytest.approx(99.5)


def test_simulated_battery_faults():
    battery = SimulatedBattery(clock=Clock())
    battery.fail_reads(1)
    with pytest.raises(DeviceError):
        battery.read()
    assert battery.status().health is Health.FAULT
    battery.read()
    battery.unplug()
    with pytest.raises(DeviceDisconnected):
        battery.read()
    battery.replug()
    assert battery.read().percent == pytest.approx(80.0)
