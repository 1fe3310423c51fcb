"""Fakes that speak the chips' own registers (byte order included) and pisugar-server's protocol.

The real drivers run unchanged against them: ``FakeINA219Bus`` derives its shunt/current/power registers from a
physical state (pack voltage, current) using the calibration the driver wrote, exactly as the chip's arithmetic
does; words go out swapped as SMBus does on the wire.
"""

from __future__ import annotations

import errno
import socket
import socketserver
import threading

from device_drivers.battery.common import swap16

_NACK = OSError(errno.EREMOTEIO, "Remote I/O error")


class _FakeChipBus:
    """Shared smbus2-like plumbing: one chip at ``address``; registers are big-endian 16-bit values."""

    def __init__(self, address: int) -> None:
        self.address = address
        self.fail = False
        """True = every transfer fails with EIO (the HAT fell off / bus wedged)."""
        self.writes: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def _check(self, addr: int) -> None:
        if self.fail:
            raise OSError(errno.EIO, "Input/output error")
        if addr != self.address:
            raise OSError(_NACK.errno, _NACK.strerror)

    def _get(self, reg: int) -> int:
        raise NotImplementedError

    def _set(self, reg: int, value: int) -> None:
        raise NotImplementedError

    # smbus2 interface -----------------------------------------------------------------------------------
    def read_word_data(self, i2c_addr: int, register: int) -> int:
        with self._lock:
            self._check(i2c_addr)
            return swap16(self._get(register))  # MSB first on the wire = low byte of the SMBus word

    def write_word_data(self, i2c_addr: int, register: int, value: int) -> None:
        with self._lock:
            self._check(i2c_addr)
            self._set(register, swap16(value & 0xFFFF))
            self.writes.append((register, swap16(value & 0xFFFF)))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        with self._lock:
            self._check(i2c_addr)
            value = self._get(register)
            return ([value >> 8, value & 0xFF] * ((length + 1) // 2))[:length]

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        with self._lock:
            self._check(i2c_addr)
            value = (data[0] << 8) | data[1]
            self._set(register, value)
            self.writes.append((register, value))

    def close(self) -> None:
        pass


class FakeINA219Bus(_FakeChipBus):
    def __init__(self, address: int = 0x42, *, voltage_v: float = 7.8, current_a: float = 0.0,
                 shunt_ohm: float = 0.01) -> None:
        super().__init__(address)
        self.voltage_v = voltage_v
        self.current_a = current_a
        """Into the battery: positive while charging."""
        self.shunt_ohm = shunt_ohm
        self.power_cycle()

    def power_cycle(self) -> None:
        """Brown-out: config back to its reset value, calibration lost."""
        self.config = 0x399F
        self.calibration = 0

    def shunt_reg(self) -> int:
        raw = round(self.current_a * self.shunt_ohm / 10e-6)
        return max(-32000, min(32000, raw))

    def bus_reg(self) -> int:
        return (round(self.voltage_v / 0.004) << 3) | 0x2  # CNVR set, as after a conversion

    def current_reg(self) -> int:
        return int(self.shunt_reg() * self.calibration / 4096)  # datasheet: shunt * cal / 4096, truncated

    def _get(self, reg: int) -> int:
        if reg == 0:
            return self.config
        if reg == 1:
            return self.shunt_reg() & 0xFFFF
        if reg == 2:
            return self.bus_reg()
        if reg == 3:
            return int(abs(self.current_reg()) * (self.bus_reg() >> 3) / 5000) & 0xFFFF
        if reg == 4:
            return self.current_reg() & 0xFFFF
        if reg == 5:
            return self.calibration
        raise OSError(errno.EIO, f"INA219 has no register {reg:#04x}")

    def _set(self, reg: int, value: int) -> None:
        if reg == 0:
            self.config = value
        elif reg == 5:
            self.calibration = value & 0xFFFE  # bit 0 is read-only
        # 0x01-0x04 are read-only: writes are ignored by the chip


class FakeMAX1704xBus(_FakeChipBus):
    def __init__(self, address: int = 0x36, *, voltage_v: float = 3.9, percent: float = 63.5,
                 version: int = 0x0012) -> None:
        super().__init__(address)
        self.voltage_v = voltage_v
        self.percent = percent
        self.version = version
        self.config = 0x971C
        self.mode = 0

    def _get(self, reg: int) -> int:
        if reg == 0x02:
            return (round(self.voltage_v / 0.00125) & 0x0FFF) << 4
        if reg == 0x04:
            whole = int(self.percent)
            return ((whole & 0xFF) << 8) | int(round((self.percent - whole) * 256)) & 0xFF
        if reg == 0x06:
            return self.mode
        if reg == 0x08:
            return self.version
        if reg == 0x0C:
            return self.config
        raise OSError(errno.EIO, f"MAX1704x register {reg:#04x} not modelled")

    def _set(self, reg: int, value: int) -> None:
        if reg == 0x06:
            self.mode = value
        elif reg == 0x0C:
            self.config = value


class _PiSugarHandler(socketserver.StreamRequestHandler):
    server: _PiSugarTCPServer

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def handle(self) -> None:
        fake = self.server.fake
        while True:
            try:
                line = self.rfile.readline(256)
            except OSError:
                return
            if not line:
                return
            if fake.hang:
                continue
            cmd = line.decode("ascii", "replace").strip()
            answer = fake.answer(cmd)
            if answer is None:
                continue
            try:
                self.wfile.write((answer + "\n").encode("ascii"))
            except OSError:
                return


class _PiSugarTCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    fake: FakePiSugarServer

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()


class FakePiSugarServer:
    """pisugar-server on 127.0.0.1 (random port unless given): ``get battery`` -> ``battery: 63.1``."""

    def __init__(self, *, port: int = 0, percent: float = 63.1, voltage_v: float = 3.95, plugged: bool = True,
                 charging: bool = True) -> None:
        self.percent = percent
        self.voltage_v = voltage_v
        self.plugged = plugged
        self.charging = charging
        self.hang = False
        """True = read requests but never answer (a wedged server)."""
        self.port = port
        self._server: _PiSugarTCPServer | None = None
        self._thread: threading.Thread | None = None

    def answer(self, cmd: str) -> str | None:
        values = {"get battery": ("battery", f"{self.percent:.1f}"),
                  "get battery_v": ("battery_v", f"{self.voltage_v:.3f}"),
                  "get battery_power_plugged": ("battery_power_plugged", str(self.plugged).lower()),
                  "get battery_charging": ("battery_charging", str(self.charging).lower()),
                  "get model": ("model", "PiSugar 3")}
        if cmd not in values:
            return None  # the real server ignores what it does not know
        key, value = values[cmd]
        return f"{key}: {value}"

    def start(self) -> FakePiSugarServer:
        self._server = _PiSugarTCPServer(("127.0.0.1", self.port), _PiSugarHandler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-pisugar")
        self._thread.start()
        return self

    def stop(self) -> None:
        """The server goes away: listening socket closed; open connections are closed too."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for conn in list(server.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(2.0)

    def __enter__(self) -> FakePiSugarServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
