"""PowerPolicy with SimulatedBattery and injected time (no sleeps)."""

from __future__ import annotations

import threading

import pytest

from device_drivers.battery import BatteryReading, SimulatedBattery
from station.config import PowerSection
from station.events import EventBus
from station.power import PowerLevel, PowerPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def rig():
    clock = Clock()
    battery = SimulatedBattery(percent=50, on_mains=True, drain_percent_per_min=1.0, charge_percent_per_min=1.0,
                               clock=clock)
    bus = EventBus()
    sub = bus.subscribe("power.")
    shutdown = Recorder()
    policy = PowerPolicy(PowerSection(), battery, bus, shutdown, clock=clock, poll_interval_s=0.01)
    yield clock, battery, policy, sub, shutdown
    policy.stop()


def drain(sub):
    out = []
    while (event := sub.get(timeout_s=0)) is not None:
        out.append(event)
    return out


def test_levels_follow_thresholds_on_battery(rig):
    clock, battery, policy, sub, shutdown = rig
    assert policy.poll().level is PowerLevel.OK
    battery.cut_mains()
    seen = []
    for _ in range(48):          # 1 %/min from 50 % down to 2 %
        clock.now += 60
        snap = policy.poll()
        seen.append((round(snap.battery_percent), snap.level))
    assert dict(seen)[21] is PowerLevel.OK and dict(seen)[20] is PowerLevel.WARN
    assert dict(seen)[11] is PowerLevel.WARN and dict(seen)[10] is PowerLevel.STOP
    assert dict(seen)[6] is PowerLevel.STOP and dict(seen)[5] is PowerLevel.SHUTDOWN
    assert shutdown.calls == 1   # called once, however many polls follow
    levels = [e.data["level"] for e in drain(sub) if e.topic == "power.level"]
    assert levels == ["warn", "stop", "shutdown"]


def test_enrollment_gate(rig):
    clock, battery, policy, _, _ = rig
    battery.cut_mains()
    battery.set_percent(15)
    assert policy.poll().level is PowerLevel.WARN and policy.allows_new_enrollment()
    battery.set_percent(9)
    assert policy.poll().level is PowerLevel.STOP and not policy.allows_new_enrollment()


def test_on_mains_never_shuts_down(rig):
    clock, battery, policy, _, shutdown = rig
    battery.set_percent(1)
    battery.charge_percent_per_min = 0.0
    for _ in range(5):
        clock.now += 60
        assert policy.poll().level is PowerLevel.OK
    assert policy.allows_new_enrollment() and shutdown.calls == 0
    assert policy.snapshot().minutes_left is None


def test_hysteresis_stops_flapping(rig):
    clock, battery, policy, sub, _ = rig
    battery.cut_mains()
    battery.drain_percent_per_min = 0.0
    levels = []
    for percent in (10.1, 9.9, 10.1, 9.9, 10.1, 11.9, 12.1):
        battery.set_percent(percent)
        levels.append(policy.poll().level)
    assert levels == [PowerLevel.WARN, PowerLevel.STOP, PowerLevel.STOP, PowerLevel.STOP, PowerLevel.STOP,
                      PowerLevel.STOP, PowerLevel.WARN]
    assert [e.data["level"] for e in drain(sub) if e.topic == "power.level"] == ["warn", "stop", "warn"]


def test_mains_back_restores_ok_at_once_and_cancels_shutdown_path(rig):
    clock, battery, policy, _, shutdown = rig
    battery.cut_mains()
    battery.set_percent(8)
    assert policy.poll().level is PowerLevel.STOP
    battery.restore_mains()
    assert policy.poll().level is PowerLevel.OK
    battery.cut_mains()
    assert policy.poll().level is PowerLevel.STOP   # mains lost again: no hysteresis delay
    assert shutdown.calls == 0


def test_minutes_left_from_recent_drain(rig):
    clock, battery, policy, _, _ = rig
    battery.cut_mains()
    battery.drain_percent_per_min = 0.5
    # one sample: no rate yet, so the rated runtime: (50 - 5) % of 180 minutes
    assert policy.poll().minutes_left == pytest.approx(81.0)
    for _ in range(10):
        clock.now += 60
        snap = policy.poll()
    # 50 % - 10 min * 0.5 %/min = 45 %; (45 - 5) / 0.5 = 80 minutes to the shutdown threshold
    assert snap.battery_percent == pytest.approx(45.0)
    assert snap.minutes_left == pytest.approx(80.0, abs=0.5)


def test_one_bad_read_is_a_fault_not_a_shutdown(rig):
    clock, battery, policy, sub, shutdown = rig
    battery.cut_mains()
    battery.set_percent(6)
    assert policy.poll().level is PowerLevel.STOP
    battery.fail_reads(1)
    snap = policy.poll()
    assert snap.fault and snap.level is PowerLevel.STOP and shutdown.calls == 0
    assert any(e.topic == "power.changed" and e.data["fault"] for e in drain(sub))
    battery.set_percent(7)
    snap = policy.poll()
    assert snap.fault == "" and snap.battery_percent == pytest.approx(7.0)


def test_shutdown_confirmations(rig):
    clock, battery, _, _, _ = rig
    shutdown = Recorder()
    policy = PowerPolicy(PowerSection(), battery, None, shutdown, clock=clock, shutdown_confirmations=2)
    battery.cut_mains()
    battery.set_percent(4)
    policy.poll()
    assert shutdown.calls == 0
    policy.poll()
    assert shutdown.calls == 1


def test_failing_shutdown_action_is_reported(rig):
    clock, battery, _, _, _ = rig
    bus = EventBus()
    sub = bus.subscribe("power.fault")

    def broken() -> None:
        raise OSError("no systemctl")

    policy = PowerPolicy(PowerSection(), battery, bus, broken, clock=clock)
    battery.cut_mains()
    battery.set_percent(3)
    assert policy.poll().level is PowerLevel.SHUTDOWN
    assert "no systemctl" in sub.get(timeout_s=1).data["fault"]


def test_no_battery_means_ok_and_unknown():
    policy = PowerPolicy(PowerSection(), None, EventBus(), Recorder())
    snap = policy.poll()
    assert snap.level is PowerLevel.OK and snap.battery_percent is None and policy.allows_new_enrollment()


def test_unknown_mains_counts_as_battery():
    class Gauge:
        def read(self):
            return BatteryReading(4.0, 3.4, None, None, None)

    shutdown = Recorder()
    policy = PowerPolicy(PowerSection(), Gauge(), None, shutdown)
    assert policy.poll().level is PowerLevel.SHUTDOWN and shutdown.calls == 1


def test_polling_thread_starts_and_stops_cleanly(rig):
    _, _, policy, sub, _ = rig
    policy.start()
    assert sub.get(timeout_s=5) is not None
    policy.stop()
    assert not any(t.name == "power-policy" and t.is_alive() for t in threading.enumerate())
