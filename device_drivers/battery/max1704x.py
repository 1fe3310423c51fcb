"""MAX17040/MAX17048 fuel gauge (Geekworm X728 and similar UPS boards), I2C address 0x36.

VCELL (0x02) holds a 12-bit value in bits 15..4, 1.25 mV per LSB; SOC (0x04) has whole percent in the high byte
and 1/256 % in the low byte; VERSION is 0x08. Registers are big-endian on the wire, so SMBus words are swapped.
The gauge measures no current: charging is unknown unless a power-loss pin tells us mains is present.
"""

from __future__ import annotations

from device_drivers.battery.common import BatteryDevice, BatteryReading, SMBusLike, clamp_percent, i2c_call, swap16
from device_drivers.battery.mains import MainsSensor

REG_VCELL, REG_SOC, REG_MODE, REG_VERSION, REG_CONFIG, REG_COMMAND = 0x02, 0x04, 0x06, 0x08, 0x0C, 0xFE
VCELL_LSB_V = 0.00125


class MAX1704xBattery(BatteryDevice):
    name = "MAX1704x"

    def __init__(self, bus: SMBusLike, address: int = 0x36, *, mains: MainsSensor | None = None) -> None:
        super().__init__()
        self.bus = bus
        self.address = address
        self.mains = mains
        self._bus_name = f"i2c 0x{address:02x}"
        self.version = self._read_reg(REG_VERSION)  # presence check: fails fast if nothing answers at 0x36

    def _read_reg(self, reg: int) -> int:
        word = i2c_call(lambda: self.bus.read_word_data(self.address, reg), what=f"read register {reg:#04x}",
                        bus_name=self._bus_name)
        return swap16(word)

    def _read(self) -> BatteryReading:
        voltage_v = (self._read_reg(REG_VCELL) >> 4) * VCELL_LSB_V
        soc = self._read_reg(REG_SOC)
        percent = clamp_percent((soc >> 8) + (soc & 0xFF) / 256.0)
        on_mains = self.mains.is_present() if self.mains is not None else None
        return BatteryReading(round(percent, 2), round(voltage_v, 4), None, None, on_mains)
