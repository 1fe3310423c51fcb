"""The sensor at its top rate: switched to 115200, still found after a power cycle, by a driver started at the
other rate, and after a factory reset back at 57600."""

from __future__ import annotations


def test_switch_survives_power_cycle_and_driver_finds_either_rate(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port, baudrate=57600)
    sensor.set_baudrate(115200)
    assert emulator.baudrate == 115200 and sensor.read_system_parameters()["baudrate"] == 115200

    emulator.unplug()  # a power cycle: the rate is kept in the part's flash
    emulator.replug()
    sensor.verify_password()
    assert sensor.baudrate == 115200

    fresh = make_sensor(emulator.port, baudrate=57600)  # the station restarted with the configured rate
    fresh.verify_password()
    assert fresh.baudrate == 115200

    emulator.reset()  # another, factory-fresh sensor at 57600 behind the same port
    emulator.unplug()
    emulator.replug()
    fresh.verify_password()
    assert fresh.baudrate == 57600


def test_capture_reports_the_finger_at_once_and_progress_as_bytes_arrive(make_emulator, make_sensor):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port)
    emulator.place_finger("good", seed=3)
    events: list[tuple[str, float]] = []
    image = sensor.capture_image(timeout=2.0, on_finger=lambda: events.append(("finger", 0.0)),
                                 on_progress=lambda f: events.append(("progress", f)))
    assert image.shape == (192, 192)
    assert events[0] == ("finger", 0.0)
    fractions = [f for kind, f in events[1:] if kind == "progress"]
    assert len(fractions) >= 10 and fractions == sorted(fractions) and fractions[-1] == 1.0
