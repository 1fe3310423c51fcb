"""Battery drivers against fakes that implement the chips' registers and byte order.

Each expected value below is computed by hand from the datasheet formula, not by calling the driver.
"""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from device_drivers.base import Health
from device_drivers.battery import (
    WAVESHARE_16V_5A,
    FakeINA219Bus,
    FakeMAX1704xBus,
    INA219Battery,
    MainsSensor,
    MAX1704xBattery,
    open_battery,
    swap16,
)
from device_drivers.errors import DeviceDisconnected


def test_ina219_wire_byte_order_is_modelled():
    bus = FakeINA219Bus(voltage_v=7.8)
    # 7.8 V / 4 mV = 1950; register = 1950 << 3 | CNVR (0x2) = 15602 = 0x3CF2; big-endian on the wire, so the
    # little-endian SMBus word is 0xF23C and a block read gives [0x3C, 0xF2].
    assert bus.read_word_data(0x42, 0x02) == 0xF23C
    assert bus.read_i2c_block_data(0x42, 0x02, 2) == [0x3C, 0xF2]


def test_ina219_charging_reading_hand_computed():
    bus = FakeINA219Bus(voltage_v=7.8, current_a=0.5)
    battery = INA219Battery(bus, 0x42)
    # Driver wrote calibration 26868 (0x68F4) and config 0x0EEF, as values (not byte-swapped):
    assert bus.calibration == 26868 and bus.config == 0x0EEF == WAVESHARE_16V_5A.config
    r = battery.read()
    # V = (15602 >> 3) * 4 mV = 1950 * 0.004 = 7.800 V; percent = (7.8 - 6.0) / 2.4 * 100 = 75.0
    assert r.voltage_v == pytest.approx(7.8) and r.percent == pytest.approx(75.0)
    # shunt = 0.5 A * 0.01 ohm = 5 mV = 500 LSB; current reg = trunc(500 * 26868 / 4096) = trunc(3279.78) = 3279;
    # current = 3279 * 0.1524 mA = 0.4997196 A
    assert r.current_a == pytest.approx(0.4997, abs=1e-4)
    assert r.charging is True and r.on_mains is True
    # power reg = trunc(3279 * 1950 / 5000) = trunc(1278.81) = 1278; 1278 * 3.048 mW = 3.895344 W
    assert battery.power_w() == pytest.approx(3.895344)
    assert battery.shunt_voltage_v() == pytest.approx(0.005)


def test_ina219_discharging_negative_current_hand_computed():
    bus = FakeINA219Bus(voltage_v=6.6, current_a=-1.2)
    r = INA219Battery(bus).read()
    # shunt = -12 mV = -1200 LSB -> 0xFB50; current = trunc(-1200 * 26868 / 4096) = trunc(-7871.48) = -7871
    # -> -7871 * 0.1524 mA = -1.1995404 A;  V = 1650 * 4 mV = 6.6 V -> (6.6 - 6.0) / 2.4 = 25.0 %
    assert bus.read_word_data(0x42, 0x01) == swap16(0xFB50)
    assert r.current_a == pytest.approx(-1.1995, abs=1e-4)
    assert r.percent == pytest.approx(25.0) and r.charging is False and r.on_mains is False


def test_ina219_percent_is_clamped():
    assert INA219Battery(FakeINA219Bus(voltage_v=8.6)).read().percent == 100.0
    assert INA219Battery(FakeINA219Bus(voltage_v=5.7)).read().percent == 0.0


def test_ina219_recalibrates_after_brown_out():
    bus = FakeINA219Bus(voltage_v=7.2, current_a=0.5)
    battery = INA219Battery(bus)
    bus.power_cycle()
    assert bus.calibration == 0  # a real chip would now read current 0
    assert battery.read().current_a == pytest.approx(0.4997, abs=1e-4)
    assert bus.calibration == 26868


def test_ina219_bus_failure_is_typed_and_recovers():
    bus = FakeINA219Bus()
    battery = INA219Battery(bus)
    bus.fail = True
    with pytest.raises(DeviceDisconnected, match="I2C transfer failed"):
        battery.read()
    assert battery.status().health is Health.ABSENT
    bus.fail = False
    battery.read()
    assert battery.status().health is Health.OK


def test_ina219_wrong_address_fails_at_construction():
    with pytest.raises(DeviceDisconnected, match="EREMOTEIO"):
        INA219Battery(FakeINA219Bus(address=0x42), 0x40)


def test_max1704x_hand_computed():
    bus = FakeMAX1704xBus(voltage_v=3.9, percent=63.5)
    # VCELL: 3.9 V / 1.25 mV = 3120 = 0xC30; register = 0xC30 << 4 = 0xC300; SMBus word (swapped) = 0x00C3
    assert bus.read_word_data(0x36, 0x02) == 0x00C3
    # SOC: 63 = 0x3F high byte, 0.5 * 256 = 0x80 low byte -> 0x3F80; SMBus word = 0x803F
    assert bus.read_word_data(0x36, 0x04) == 0x803F
    r = MAX1704xBattery(bus).read()
    assert r.voltage_v == pytest.approx(3.9) and r.percent == pytest.approx(63.5)
    assert r.current_a is None and r.charging is None and r.on_mains is None


def test_max1704x_reports_mains_from_the_power_loss_pin():
    factory = MockFactory()
    mains = MainsSensor(6, factory)
    battery = MAX1704xBattery(FakeMAX1704xBus(percent=40.25), mains=mains)
    pin = factory.pin(6)
    pin.drive_high()
    r = battery.read()
    # 40.25: high byte 40, low byte 0.25 * 256 = 64 -> 40 + 64/256 = 40.25
    assert r.percent == pytest.approx(40.25) and r.on_mains is True
    pin.drive_low()
    assert battery.read().on_mains is False
    mains.close()


def test_mains_sensor_active_low_and_edges():
    factory = MockFactory()
    mains = MainsSensor(17, factory, active_high=False)
    pin = factory.pin(17)
    pin.drive_high()
    seen: list[bool] = []
    mains.when_changed(seen.append)
    assert mains.is_present() is False
    pin.drive_low()
    assert mains.is_present() is True
    pin.drive_high()
    assert seen == [True, False]
    mains.close()
    mains.close()
    with pytest.raises(DeviceDisconnected):
        mains.is_present()


def test_open_battery_builds_each_kind():
    assert open_battery("none") is None
    ina = open_battery("ina219", i2c_bus=FakeINA219Bus(voltage_v=7.2))
    assert isinstance(ina, INA219Battery) and ina.read().percent == pytest.approx(50.0)
    gauge = open_battery("max1704x", i2c_bus=FakeMAX1704xBus())
    assert isinstance(gauge, MAX1704xBattery)
    with pytest.raises(ValueError, match="unknown battery kind"):
        open_battery("lead-acid")


def test_open_missing_i2c_bus_is_typed():
    with pytest.raises(DeviceDisconnected, match="cannot open I2C bus 97"):
        open_battery("ina219", bus=97)


def test_open_battery_with_inverted_power_loss_pin_overrides_current_sense():
    factory = MockFactory()
    battery = open_battery("ina219", i2c_bus=FakeINA219Bus(voltage_v=8.0, current_a=0.0), power_loss_pin=6,
                           pin_factory=factory, power_loss_active_high=False)
    factory.pin(6).drive_low()   # this board pulls the pin low while mains is present
    r = battery.read()
    assert r.on_mains is True and r.charging is False   # full pack on mains: no charge current
    factory.pin(6).drive_high()
    assert battery.read().on_mains is False
    battery.mains.close()


def test_lazy_battery_opens_on_first_read_and_retries_a_failed_open():
    from device_drivers.battery import LazyBattery

    buses = [None, FakeINA219Bus(voltage_v=7.2)]

    def opener():
        bus = buses.pop(0)
        if bus is None:
            raise DeviceDisconnected("no HAT yet", port="i2c 0x42")
        return INA219Battery(bus)

    lazy = LazyBattery(opener)
    assert lazy.status().health is Health.ABSENT
    with pytest.raises(DeviceDisconnected):
        lazy.read()
    assert "no HAT yet" in lazy.last_error
    assert lazy.read().percent == pytest.approx(50.0)   # (7.2 - 6.0) / 2.4 = 50 %
    assert lazy.status().health is Health.OK and lazy.last_error == ""


def test_power_loss_pin_edge_updates_the_policy_at_once_without_a_gauge_read():
    from station.config import PowerSection
    from station.events import EventBus
    from station.power import PowerPolicy

    factory = MockFactory()
    mains = MainsSensor(6, factory)
    pin = factory.pin(6)
    pin.drive_high()
    bus = FakeMAX1704xBus(percent=60.0)
    battery = MAX1704xBattery(bus, mains=mains)
    policy = PowerPolicy(PowerSection(), battery, EventBus(), lambda: None, poll_interval_s=3600)
    policy.poll()
    policy.start()
    try:
        pin.drive_low()  # mains lost: the edge alone updates the snapshot
        snap = policy.snapshot()
        assert snap.on_mains is False and snap.minutes_left == pytest.approx((60 - 5) / 100 * 180)
        pin.drive_high()
        assert policy.snapshot().on_mains is True and policy.snapshot().minutes_left is None
    finally:
        policy.stop()
        mains.close()
