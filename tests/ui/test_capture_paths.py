"""The fingerprint step when things are not perfect: a bad finger then a good one, a finger that cannot be
captured (exception confirmed by the operator's PIN), and the sensor unplugged in the middle of the step."""

from __future__ import annotations

import re
from typing import Any

import cv2
import pytest
from playwright.sync_api import expect

from device_drivers.fingerprint.synthetic import synthetic_fingerprint
from station.fingers import CAPTURE_ORDER, Finger
from tests.ui.kiosk_steps import assert_inside, check_layout, reach_fingers, tap_digits, time_to_power_banner

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIRST, SECOND = CAPTURE_ORDER[0], CAPTURE_ORDER[1]


def finger_info(station: Any, draft_id: str, finger: Finger) -> dict:
    return station.enrollment.get(draft_id).fingers.get(finger) or {}


def test_bad_finger_then_good_finger(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    draft_id = reach_fingers(page, kiosk.url, station)
    sim = station.devices.simulator

    sim.place_finger("smudged")
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "retry")
    expect(page.locator("#finger-attempt")).to_contain_text("2")
    expect(page.locator("#fingers")).to_have_attribute("data-current", FIRST.code)
    shots(page, "20-finger-retry")
    assert finger_info(station, draft_id, FIRST) == {}  # nothing accepted yet

    sim.lift_finger()
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "waiting")
    sim.place_finger("good")
    expect(page.locator("#fingers")).to_have_attribute("data-current", SECOND.code)
    sim.lift_finger()

    info = finger_info(station, draft_id, FIRST)
    assert info["attempts"] == 2 and info["force_captured"] is False
    assert info["score"] >= station.config.devices.fingerprint.quality_threshold
    expect(page.locator(f".hand .f.done[data-code='{FIRST.code}']")).to_be_visible()


def test_three_bad_attempts_keep_the_best_and_flag_it(kiosk: Any, station: Any, page: Any) -> None:
    draft_id = reach_fingers(page, kiosk.url, station)
    sim = station.devices.simulator
    for quality in ("smudged", "partial"):
        expect(page.locator("#finger-state")).to_have_attribute("data-state", "waiting")
        sim.place_finger(quality)
        expect(page.locator("#finger-state")).to_have_attribute("data-state", "retry")
        sim.lift_finger()
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "waiting")
    sim.place_finger("smudged")
    expect(page.locator("#fingers")).to_have_attribute("data-current", SECOND.code)
    sim.lift_finger()
    info = finger_info(station, draft_id, FIRST)
    assert info["attempts"] == 3 and info["force_captured"] is True
    expect(page.locator(f".hand .f.forced[data-code='{FIRST.code}']")).to_be_visible()


def test_exception_needs_the_operator_pin(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    draft_id = reach_fingers(page, kiosk.url, station)

    page.locator("#exception-open").click()
    # no reason is chosen for the operator: a PIN alone must not record "amputated"
    assert page.locator("#exception-form input[name=reason]:checked").count() == 0
    tap_digits(page, station.demo.pin, "#exception-form")
    page.locator("#exception-ok").click()
    assert page.url.endswith("/fingerprints") and finger_info(station, draft_id, FIRST) == {}
    page.locator("#exception-form [data-key='clear']").click()
    page.locator("label.btn:has(input[value='bandaged'])").click()
    tap_digits(page, "999999", "#exception-form")
    page.locator("#exception-ok").click()
    expect(page.locator(".flash.warn")).to_be_visible()  # wrong PIN: nothing recorded
    assert finger_info(station, draft_id, FIRST) == {}

    page.locator("#exception-open").click()
    page.locator("label.btn:has(input[value='amputated'])").click()
    tap_digits(page, station.demo.pin, "#exception-form")
    check_layout(page, "exception modal")
    assert_inside(page, "#exception-form [data-key], #exception-form label.btn, #exception-ok", "#exception-form")
    shots(page, "21-finger-exception")
    page.locator("#exception-ok").click()
    expect(page.locator("#fingers")).to_have_attribute("data-current", SECOND.code)
    expect(page.locator(f".hand .f.exception[data-code='{FIRST.code}']")).to_be_visible()
    exception = finger_info(station, draft_id, FIRST)["exception"]
    assert exception["reason"] == "amputated"

    # and the flow goes on with the next finger
    station.devices.simulator.place_finger("good")
    expect(page.locator("#fingers")).to_have_attribute("data-current", CAPTURE_ORDER[2].code)


def test_unplugged_sensor_says_so_and_the_step_continues_after_replug(kiosk: Any, station: Any, page: Any,
                                                                       shots: Any) -> None:
    draft_id = reach_fingers(page, kiosk.url, station)
    sim = station.devices.simulator

    sim.unplug("fingerprint")
    banner = page.locator("#device-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Sensor sidik jari tidak tersambung")
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "device_missing")
    sim.battery.set_percent(15)
    sim.cut_mains()
    expect(page.locator("#power-banner")).to_contain_text("Baterai lemah")
    check_layout(page, "fingers with the sensor and the battery banners")
    shots(page, "22-sensor-unplugged")
    sim.restore_mains()
    sim.place_finger("good")  # a finger on an unplugged sensor is not captured
    page.wait_for_timeout(500)
    assert finger_info(station, draft_id, FIRST) == {}

    sim.replug("fingerprint")
    expect(banner).to_be_hidden(timeout=15_000)
    expect(page.locator("#fingers")).to_have_attribute("data-current", SECOND.code, timeout=15_000)
    assert finger_info(station, draft_id, FIRST)["attempts"] == 1


def test_going_back_and_cancelling_ask_first(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    draft_id = reach_fingers(page, kiosk.url, station)
    nik = station.demo.sample_niks[0]

    # Retake the photo: asked first; "No" keeps us here.
    page.locator("form[action$='/back/photo'] button").click()
    expect(page.locator("#confirm-modal")).to_be_visible()
    page.locator("#confirm-no").click()
    assert page.url.endswith("/fingerprints")
    page.locator("form[action$='/back/photo'] button").click()
    page.locator("#confirm-yes").click()
    page.wait_for_url("**/photo")
    page.reload()  # the server's draft is the truth: a reload stays on the step
    assert page.url.endswith("/photo")
    expect(page.locator("#photo-done")).to_be_visible(timeout=30_000)

    page.locator("[data-open='cancel-modal']").click()
    check_layout(page, "cancel modal")
    shots(page, "23-cancel")
    page.locator("#cancel-modal button[value='resident_left']").click()
    page.wait_for_url("**/search")
    assert str(station.enrollment.get(draft_id).status) == "cancelled"
    # the resident can be recorded later: the NIK is free again
    tap_digits(page, nik)
    expect(page.locator(f"[data-start='{nik}']")).to_be_visible()


def test_low_battery_refuses_a_new_recording_with_a_clear_message(kiosk: Any, station: Any, page: Any,
                                                                   shots: Any) -> None:
    from tests.ui.conftest import wait_until
    from tests.ui.kiosk_steps import find_by_nik, login, open_session

    base, demo = kiosk.url, station.demo
    login(page, base)
    open_session(page, base, demo.villages[0])
    sim = station.devices.simulator
    sim.battery.set_percent(8)
    sim.cut_mains()
    wait_until(lambda: not station.power.allows_new_enrollment(), what="the power policy to stop new work")
    expect(page.locator("#st-power")).to_have_class(re.compile(r"\bbad\b"))  # the top bar shows it too
    find_by_nik(page, demo.sample_niks[0])
    page.locator(f"[data-start='{demo.sample_niks[0]}']").click()
    page.wait_for_url("**/search")
    expect(page.locator(".flash.warn")).to_contain_text("Baterai terlalu lemah")
    shots(page, "24-battery-low")
    assert station.enrollment.active_drafts() == []

    sim.restore_mains()
    sim.battery.set_percent(60)
    wait_until(lambda: station.power.allows_new_enrollment(), what="the power policy to allow work again")
    find_by_nik(page, demo.sample_niks[0])
    page.locator(f"[data-start='{demo.sample_niks[0]}']").click()
    page.wait_for_url("**/confirm")


def test_camera_and_signature_pad_unplugged_mid_step(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    from tests.ui.kiosk_steps import find_by_nik, login, open_session, start_recording, wait_photo_captured

    base, demo, sim = kiosk.url, station.demo, station.devices.simulator
    login(page, base)
    open_session(page, base, demo.villages[0])
    find_by_nik(page, demo.sample_niks[2])
    sim.set_scene("no_face")
    start_recording(page, demo.sample_niks[2])
    expect(page.locator("#hints li.fail")).to_be_visible()
    sim.unplug("camera")
    expect(page.locator("#device-banner")).to_contain_text("Kamera tidak berfungsi")
    # no frozen frame and no old checks while the camera is away
    expect(page.locator("#camera-off")).to_be_visible()
    expect(page.locator("#preview")).to_be_hidden()
    assert page.locator("#hints li").count() == 0
    waited_ms = time_to_power_banner(page, sim.cut_mains)
    assert waited_ms < 2000, f"mains-loss banner after {waited_ms:.0f} ms"
    expect(page.locator("#power-banner")).to_contain_text("Listrik padam")
    expect(page.locator("#power-banner")).to_contain_text("menit")
    check_layout(page, "photo with the camera and the mains banners")
    shots(page, "25-camera-unplugged")
    sim.restore_mains()
    expect(page.locator("#power-banner")).to_be_hidden(timeout=10_000)
    sim.replug("camera")
    sim.set_scene("portrait")
    wait_photo_captured(page)
    expect(page.locator("#device-banner")).to_be_hidden()
    draft_id = page.locator("#photo-live").get_attribute("data-draft")
    # The fingers are not what this test is about: accept them through the station's own service.
    png = cv2.imencode(".png", synthetic_fingerprint(192, 192, "good", seed=1))[1].tobytes()
    for finger in CAPTURE_ORDER:
        station.enrollment.accept_finger(draft_id, finger, png, score=90, attempts=1, force_captured=False)
    page.goto(f"{base}/enroll/{draft_id}")
    page.wait_for_url("**/signature")

    sim.unplug("signature_pad")
    expect(page.locator("#device-banner")).to_contain_text("Papan tanda tangan tidak tersambung")
    sim.cut_mains()
    expect(page.locator("#power-banner")).to_be_visible(timeout=10_000)
    check_layout(page, "signature with the pad and the mains banners")
    sim.restore_mains()
    sim.replug("signature_pad")
    expect(page.locator("#device-banner")).to_be_hidden(timeout=15_000)
    sim.sign()
    expect(page.locator("#sigpad")).not_to_have_attribute("data-points", "0", timeout=15_000)
    page.locator("#sig-accept").click()
    page.wait_for_url("**/review")
