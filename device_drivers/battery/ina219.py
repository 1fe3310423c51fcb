"""INA219 current/voltage monitor, as on the Waveshare UPS HAT (2 x 18650 in series, I2C address 0x42).

Registers (datasheet SBOS448): 0x00 config, 0x01 shunt voltage (signed, 10 uV/LSB), 0x02 bus voltage (bits 15..3,
4 mV/LSB; bit 1 CNVR, bit 0 OVF), 0x03 power, 0x04 current (signed), 0x05 calibration. The chip computes
current = shunt * cal / 4096 and power = current * bus / 5000, so current and power read 0 until calibration is
written -- and calibration is lost when the chip browns out, which is why ``read()`` checks it every time.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_drivers.battery.common import (
    BatteryDevice,
    BatteryReading,
    SMBusLike,
    clamp_percent,
    i2c_call,
    swap16,
    to_signed16,
)
from device_drivers.battery.mains import MainsSensor

REG_CONFIG, REG_SHUNT, REG_BUS, REG_POWER, REG_CURRENT, REG_CALIBRATION = 0, 1, 2, 3, 4, 5
BUS_LSB_V = 0.004
SHUNT_LSB_V = 10e-6


@dataclass(frozen=True)
class Calibration:
    cal_value: int
    current_lsb_a: float
    power_lsb_w: float
    """Always 20 x current_lsb_a (datasheet)."""
    config: int


# Waveshare's UPS HAT (B) example (0.01 ohm shunt): 16 V bus range, PGA /2 (80 mV), 12-bit 32-sample averaging,
# shunt+bus continuous. Cal = trunc(0.04096 / (0.00015245 A * 0.01 ohm)) = 26868; current LSB 0.1524 mA.
WAVESHARE_16V_5A = Calibration(26868, 0.0001524, 0.003048, (0 << 13) | (1 << 11) | (0xD << 7) | (0xD << 3) | 7)
# The original UPS HAT example (0.1 ohm shunt): 32 V, PGA /8 (320 mV); Cal = 0.04096 / (0.0001 * 0.1) = 4096.
WAVESHARE_32V_2A = Calibration(4096, 0.0001, 0.002, (1 << 13) | (3 << 11) | (0xD << 7) | (0xD << 3) | 7)


class INA219Battery(BatteryDevice):
    """Battery state from an INA219 on an smbus2-like ``bus``; percent from the pack voltage (linear)."""

    name = "INA219"

    def __init__(self, bus: SMBusLike, address: int = 0x42, *, calibration: Calibration = WAVESHARE_16V_5A,
                 cells: int = 2, mains: MainsSensor | None = None) -> None:
        super().__init__()
        self.bus = bus
        self.address = address
        self.calibration = calibration
        self.empty_v = 3.0 * cells
        self.full_v = 4.2 * cells
        self.mains = mains
        self._bus_name = f"i2c 0x{address:02x}"
        self._calibrate()

    def _read_reg(self, reg: int) -> int:
        word = i2c_call(lambda: self.bus.read_word_data(self.address, reg), what=f"read register {reg:#04x}",
                        bus_name=self._bus_name)
        return swap16(word)

    def _write_reg(self, reg: int, value: int) -> None:
        i2c_call(lambda: self.bus.write_word_data(self.address, reg, swap16(value)),
                 what=f"write register {reg:#04x}", bus_name=self._bus_name)

    def _calibrate(self) -> None:
        self._write_reg(REG_CALIBRATION, self.calibration.cal_value)
        self._write_reg(REG_CONFIG, self.calibration.config)

    def _read(self) -> BatteryReading:
        if self._read_reg(REG_CALIBRATION) != self.calibration.cal_value:
            self._calibrate()  # the chip was power-cycled
        voltage_v = (self._read_reg(REG_BUS) >> 3) * BUS_LSB_V
        current_a = to_signed16(self._read_reg(REG_CURRENT)) * self.calibration.current_lsb_a
        percent = clamp_percent((voltage_v - self.empty_v) / (self.full_v - self.empty_v) * 100.0)
        charging = current_a > 0
        on_mains = self.mains.is_present() if self.mains is not None else charging
        return BatteryReading(round(percent, 1), round(voltage_v, 3), round(current_a, 4), charging, on_mains)

    def shunt_voltage_v(self) -> float:
        return to_signed16(self._read_reg(REG_SHUNT)) * SHUNT_LSB_V

    def power_w(self) -> float:
        return self._read_reg(REG_POWER) * self.calibration.power_lsb_w
