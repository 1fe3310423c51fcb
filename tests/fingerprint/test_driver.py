"""R30xSensor against FakeR30x over real pseudo-terminals, through pyserial."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from device_drivers.errors import DeviceTimeout
from device_drivers.fingerprint import (
    AuraColor,
    AuraMode,
    ImageTooMessy,
    LedCue,
    NoFinger,
    TooFewFeatures,
    WrongPassword,
    get_model,
)
from device_drivers.fingerprint.protocol import ConfirmationCode, Instruction
from device_drivers.fingerprint.synthetic import synthetic_fingerprint


def expected_image(width: int, height: int, quality: str, seed: int) -> np.ndarray:
    """What the chip's 4-bit transfer makes of the emulator's synthetic finger."""
    return (synthetic_fingerprint(width, height, quality=quality, seed=seed) >> 4) * 17


@pytest.mark.parametrize(("model", "shape"), [("R307", (288, 256)), ("R503", (192, 192)),
                                              ("AS608", (288, 256)), ("ZFM-20", (288, 256))])
def test_capture_gives_the_model_geometry_and_the_exact_pixels(make_emulator, make_sensor, model, shape):
    emulator = make_emulator(model)
    sensor = make_sensor(emulator.port)
    emulator.place_finger("good", seed=7)
    image = sensor.capture_image(timeout=2.0)
    assert image.dtype == np.uint8 and image.shape == shape
    assert np.array_equal(image, expected_image(shape[1], shape[0], "good", 7))
    assert set(np.unique(image)) <= {v * 17 for v in range(16)}
    assert emulator.image_size == (shape[1], shape[0])


def test_geometry_comes_from_the_part_not_a_constant(make_emulator, make_sensor):
    r503 = make_emulator("R503")
    sensor = make_sensor(r503.port)
    info = sensor.read_product_info()
    assert info is not None and (info.model, info.image_width, info.image_height) == ("R503", 192, 192)
    assert sensor.model.name == "R503"
    r307 = make_emulator("R307")
    assert make_sensor(r307.port).read_product_info() is None  # the R307 has no ReadProdInfo


def test_model_given_by_the_caller_skips_the_probe(make_emulator, make_sensor):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port, model="r503")
    emulator.place_finger()
    assert sensor.capture_image(timeout=2.0).shape == (192, 192)
    assert Instruction.READ_PROD_INFO not in emulator.commands_seen


def test_finger_present_follows_the_finger_without_uploading(make_emulator, make_sensor):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port, model="R503")
    assert sensor.finger_present() is False
    emulator.place_finger("good", seed=1)
    assert sensor.finger_present() is True
    emulator.lift_finger()
    assert sensor.finger_present() is False
    assert Instruction.UP_IMAGE not in emulator.commands_seen


def test_paced_capture_at_57600_takes_the_line_time(make_emulator, make_sensor):
    emulator = make_emulator("R503", pace=True)
    sensor = make_sensor(emulator.port, model="R503")
    emulator.place_finger("good", seed=3)
    start = time.monotonic()
    image = sensor.capture_image(timeout=10.0)
    elapsed = time.monotonic() - start
    line_s = (18432 + 144 * 11) * 10 / 57600  # 144 data packets of 128 bytes + 11 bytes framing each
    assert image.shape == (192, 192)
    assert elapsed >= line_s * 0.95, f"transfer took {elapsed:.2f} s, the line needs {line_s:.2f} s"


def test_capture_after_switching_to_115200(make_emulator, make_sensor):
    emulator = make_emulator("R503", pace=True)
    sensor = make_sensor(emulator.port, model="R503")
    sensor.set_baudrate(115200)
    assert emulator.baudrate == 115200 and emulator.line_baudrate() == 115200
    assert sensor.read_system_parameters()["baudrate"] == 115200
    emulator.place_finger("good", seed=4)
    start = time.monotonic()
    image = sensor.capture_image(timeout=10.0)
    elapsed = time.monotonic() - start
    assert np.array_equal(image, expected_image(192, 192, "good", 4))
    assert elapsed < (18432 + 144 * 11) * 10 / 57600, "still running at the old rate"


def test_r307_capture_after_switching_rate_unpaced(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port)
    sensor.set_baudrate(115200)
    emulator.place_finger("good", seed=5)
    assert np.array_equal(sensor.capture_image(timeout=2.0), expected_image(256, 288, "good", 5))


def test_driver_at_the_wrong_rate_finds_the_part_and_a_silent_part_is_a_timeout(make_emulator, make_sensor):
    emulator = make_emulator("R307", baudrate=115200)
    sensor = make_sensor(emulator.port, baudrate=57600)
    sensor.verify_password()  # nothing decodable at 57600: the driver searches the rates
    assert emulator.garbled_bytes > 0 and sensor.baudrate == 115200
    silent = make_emulator("R307")
    for _ in range(12):  # every probe of the search goes unanswered too
        silent.inject_fault("silence")
    quiet = make_sensor(silent.port)
    with pytest.raises(DeviceTimeout) as info:
        quiet.verify_password()
    assert info.value.port == silent.port and "password" in info.value.expected and quiet.baudrate == 57600


@pytest.mark.parametrize("size", [32, 64, 256])
def test_any_packet_size_is_read_until_the_end_packet(make_emulator, make_sensor, size):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port)
    sensor.set_packet_size(size)
    assert sensor.read_system_parameters()["packet_size"] == size
    emulator.place_finger("good", seed=9)
    assert np.array_equal(sensor.capture_image(timeout=2.0), expected_image(192, 192, "good", 9))


def test_invalid_settings_are_refused_before_they_reach_the_line(make_emulator, make_sensor):
    sensor = make_sensor(make_emulator("R307").port)
    with pytest.raises(ValueError, match="baud"):
        sensor.set_baudrate(100000)
    with pytest.raises(ValueError, match="packet size"):
        sensor.set_packet_size(100)


def test_system_parameters(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    params = make_sensor(emulator.port).read_system_parameters()
    assert params == {"status": 0, "system_id": 9, "library_size": 1000, "security_level": 3,
                      "address": 0xFFFFFFFF, "packet_size": 128, "baudrate": 57600}


def test_no_finger_times_out_with_a_typed_error_in_time(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port)
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no finger") as info:
        sensor.capture_image(timeout=0.4)
    assert time.monotonic() - start < 1.5
    assert not isinstance(info.value, NoFinger) and info.value.expected == "a finger on the sensor"
    assert emulator.commands_seen.count(Instruction.GEN_IMG) >= 2  # it polled


def test_capture_waits_for_a_finger_placed_later(make_emulator, make_sensor):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port)
    timer = threading.Timer(0.3, emulator.place_finger, args=("good", 11))
    timer.start()
    try:
        image = sensor.capture_image(timeout=3.0)
    finally:
        timer.cancel()
    assert np.array_equal(image, expected_image(192, 192, "good", 11))


def test_templates_good_finger(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port)
    emulator.place_finger("good", seed=1)
    sensor.capture_image(timeout=2.0)
    template = sensor.create_template()
    assert len(template) == get_model("R307").template_bytes
    assert sensor.image_ok()
    sensor.capture_image(timeout=2.0)  # same finger again: same image, same template
    assert sensor.create_template() == template


@pytest.mark.parametrize(("quality", "error"), [("smudged", ImageTooMessy), ("partial", TooFewFeatures)])
def test_templates_bad_finger_gets_the_sensor_verdict(make_emulator, make_sensor, quality, error):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port)
    emulator.place_finger(quality, seed=2)
    sensor.capture_image(timeout=2.0)
    with pytest.raises(error) as info:
        sensor.create_template()
    assert info.value.code in (ConfirmationCode.IMAGE_TOO_MESSY, ConfirmationCode.TOO_FEW_FEATURES)
    assert sensor.image_ok() is False


def test_led_commands_on_the_r503(make_emulator, make_sensor):
    emulator = make_emulator("R503")
    sensor = make_sensor(emulator.port)
    assert sensor.set_led(AuraMode.FLASHING, AuraColor.PURPLE, speed=20, cycles=4)
    assert emulator.led == (AuraMode.FLASHING, 20, AuraColor.PURPLE, 4)
    assert sensor.show_cue(LedCue.PLACE_FINGER)
    assert emulator.led[0] == AuraMode.BREATHING and emulator.led[2] == AuraColor.BLUE
    assert sensor.show_cue(LedCue.GOOD) and emulator.led[2] == AuraColor.GREEN
    assert sensor.show_cue(LedCue.TRY_AGAIN) and emulator.led[2] == AuraColor.RED
    with pytest.raises(ValueError):
        sensor.set_led(AuraMode.ON, AuraColor.RED, speed=300)


def test_led_is_a_no_op_on_parts_without_the_ring(make_emulator, make_sensor):
    emulator = make_emulator("R307")
    sensor = make_sensor(emulator.port)
    assert sensor.set_led(AuraMode.BREATHING, AuraColor.BLUE) is False
    assert sensor.show_cue(LedCue.GOOD) is False
    assert Instruction.AURA_LED_CONFIG not in emulator.commands_seen


def test_wrong_password_is_a_typed_error_with_the_code(make_emulator, make_sensor):
    emulator = make_emulator("R307", password=0x1234)
    sensor = make_sensor(emulator.port, password=0)
    with pytest.raises(WrongPassword) as info:
        sensor.read_system_parameters()  # the part refuses everything until the password is verified
    assert info.value.code == ConfirmationCode.PASSWORD_NOT_VERIFIED
    wrong = make_sensor(emulator.port, password=0x9999)
    with pytest.raises(WrongPassword) as info:
        wrong.verify_password()
    assert info.value.code == ConfirmationCode.WRONG_PASSWORD and info.value.port == emulator.port
    assert wrong.status().health == "fault"


def test_right_password_is_verified_on_every_fresh_link(make_emulator, make_sensor):
    emulator = make_emulator("R503", password=0x1234)
    sensor = make_sensor(emulator.port, password=0x1234)
    assert sensor.read_system_parameters()["status"] & 0b100  # PWD bit set
    emulator.unplug()
    emulator.replug()  # power-cycled: the part wants the password again
    emulator.place_finger()
    assert sensor.capture_image(timeout=2.0).shape == (192, 192)
