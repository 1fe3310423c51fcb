"""Every fault ends in a typed error within the timeout, and the next capture works."""

from __future__ import annotations

import time

import numpy as np
import pytest
import serial

from device_drivers.base import Health
from device_drivers.errors import DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError
from device_drivers.fingerprint import BadPacket, R30xSensor
from device_drivers.fingerprint.protocol import FrameParser, Instruction, build_command

TIMEOUT_S = 0.5


def capture_ok(emulator, sensor, seed: int = 1) -> np.ndarray:
    emulator.place_finger("good", seed=seed)
    image = sensor.capture_image(timeout=2.0)
    width, height = emulator.image_size
    assert image.shape == (height, width)
    return image


def timed(fn):
    start = time.monotonic()
    try:
        fn()
    finally:
        timed.elapsed = time.monotonic() - start


@pytest.mark.parametrize(("kind", "error"), [
    ("bad_checksum", ProtocolError),
    ("truncate", ProtocolError),
    ("silence", DeviceTimeout),
    ("unplug", DeviceDisconnected),
])
@pytest.mark.parametrize("during", ["reply", "transfer"])
def test_fault_gives_a_typed_error_in_time_then_capture_works(make_emulator, make_sensor, kind, error, during):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port, timeout_s=TIMEOUT_S)
    reference = capture_ok(emulator, sensor, seed=3)  # geometry known, line clean
    emulator.inject_fault(kind, during=during)
    with pytest.raises(error) as info:
        timed(lambda: sensor.capture_image(timeout=2.0))
    assert timed.elapsed < 3 * TIMEOUT_S + 0.5, f"{kind} took {timed.elapsed:.2f} s to surface"
    assert info.value.port == emulator.port
    if kind != "unplug":
        assert info.value.expected  # says what it was waiting for
    if kind == "unplug":
        assert sensor.status().health == Health.ABSENT
        emulator.replug()
        assert sensor.status().health == Health.OK
    assert np.array_equal(capture_ok(emulator, sensor, seed=3), reference)


def test_noise_before_a_reply_is_skipped(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port, timeout_s=TIMEOUT_S)
    reference = capture_ok(emulator, sensor, seed=4)
    for _ in range(3):
        emulator.inject_fault("noise")
    assert np.array_equal(capture_ok(emulator, sensor, seed=4), reference)
    assert sensor.discarded_bytes > 0  # noise really arrived and was stepped over


def test_bad_checksum_mid_image_on_a_paced_line_then_recovery(make_emulator, make_sensor):
    emulator = make_emulator("R503", pace=True, baudrate=115200)
    sensor = make_sensor(emulator.port, baudrate=115200, timeout_s=TIMEOUT_S, model="R503")
    emulator.inject_fault("bad_checksum", during="transfer")
    emulator.place_finger("good", seed=5)
    with pytest.raises(ProtocolError, match="damaged data packet"):
        sensor.capture_image(timeout=3.0)
    # the rest of the image is still on the wire; the driver drains it before the next command
    assert sensor.read_system_parameters()["baudrate"] == 115200
    assert capture_ok(emulator, sensor, seed=5).shape == (192, 192)


def test_unplug_between_calls_then_replug(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port, timeout_s=TIMEOUT_S)
    assert sensor.status().health == Health.OK
    emulator.unplug()
    status = sensor.status()
    assert status.health == Health.ABSENT and emulator.port in status.reason
    with pytest.raises(DeviceDisconnected):
        sensor.capture_image(timeout=1.0)
    emulator.replug()
    assert sensor.status().health == Health.OK
    capture_ok(emulator, sensor)


def test_absent_at_start_then_plugged_in(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    emulator.unplug()
    sensor = make_sensor(emulator.port, timeout_s=TIMEOUT_S)  # constructing never raises for a missing port
    assert sensor.status().health == Health.ABSENT
    with pytest.raises(DeviceDisconnected) as info:
        sensor.verify_password()
    assert info.value.expected == "a serial port"
    emulator.replug()
    capture_ok(emulator, sensor)


def test_silent_device_is_a_fault_not_absent(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port, timeout_s=TIMEOUT_S)
    emulator.inject_fault("silence")
    status = sensor.status()
    assert status.health == Health.FAULT and "no reply" in status.reason
    assert sensor.status().health == Health.OK


def test_no_serial_or_os_error_escapes_for_a_bogus_port(make_sensor, tmp_path):
    sensor = make_sensor(str(tmp_path / "nothing-here"))
    for call in (sensor.verify_password, sensor.read_system_parameters, lambda: sensor.capture_image(0.2),
                 sensor.create_template, lambda: sensor.set_baudrate(115200)):
        with pytest.raises(DeviceDisconnected):
            call()
    assert sensor.status().health == Health.ABSENT


def test_closed_sensor_refuses_politely(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port)
    sensor.close()
    sensor.close()  # idempotent
    assert sensor.status().health == Health.ABSENT
    with pytest.raises(DeviceDisconnected):
        sensor.verify_password()


def test_spy_url_works(make_emulator, tmp_path):
    emulator = make_emulator("R503")
    log = tmp_path / "spy.txt"  # spy:// logs every byte: no image here, not even a synthetic one
    with R30xSensor(f"spy://{emulator.port}?file={log}", timeout_s=TIMEOUT_S) as sensor:
        assert sensor.read_system_parameters()["library_size"] == 200
        assert sensor.status().health == Health.OK
    assert "ef 01" in log.read_text().lower()


def test_baud_rate_survives_a_power_cycle(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port, timeout_s=TIMEOUT_S)
    sensor.set_baudrate(115200)
    emulator.unplug()
    emulator.replug()  # the module keeps the rate in flash; the driver re-opens at the rate it set
    assert sensor.read_system_parameters()["baudrate"] == 115200
    capture_ok(emulator, sensor)


def test_emulator_answers_a_damaged_command_with_0x01(make_emulator):
    emulator = make_emulator("R307")
    frame = bytearray(build_command(Instruction.VFY_PWD, bytes(4)))
    frame[-1] ^= 0x01
    with serial.serial_for_url(emulator.port, baudrate=57600, timeout=0.5) as port:
        port.write(bytes(frame))
        parser, frames, deadline = FrameParser(), [], time.monotonic() + 2.0
        while not frames and time.monotonic() < deadline:
            frames = parser.feed(port.read(port.in_waiting or 1))
    assert frames and frames[0].code == 0x01
    err = BadPacket(frames[0].code, port=emulator.port)
    assert isinstance(err, DeviceError) and "damaged packet" in str(err)


def test_fault_kinds_are_checked(make_emulator):
    emulator = make_emulator("R307")
    with pytest.raises(ValueError):
        emulator.inject_fault("fire")
    with pytest.raises(ValueError):
        emulator.place_finger("wet")


def test_reset_clears_faults_and_restores_factory_state(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    # No fault is left after reset(), so every command must be answered: a generous reply timeout keeps a busy
    # CI machine from turning a late answer into "no reply".
    sensor = make_sensor(emulator.port, timeout_s=3.0)
    sensor.set_packet_size(32)
    emulator.inject_fault("silence")
    emulator.place_finger()
    emulator.reset()
    params = sensor.read_system_parameters()
    assert params["packet_size"] == 128
    with pytest.raises(DeviceTimeout, match="no finger"):
        sensor.capture_image(timeout=0.3)
