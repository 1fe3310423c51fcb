"""Operator log-in on the kiosk: the PIN keypad, the lockout after five wrong PINs (shown with its end time), and
the idle logout."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui.kiosk_steps import check_layout, login, tap_digits

pytestmark = [pytest.mark.browser]


def test_five_wrong_pins_lock_the_operator_and_say_until_when(kiosk: Any, station: Any, page: Any,
                                                               shots: Any) -> None:
    base = kiosk.url
    page.goto(base + "/login/demo")
    for attempt in range(1, 5):
        tap_digits(page, "000000")  # submits itself after six digits
        expect(page.locator("#pin-error")).to_contain_text(f"Sisa {5 - attempt} percobaan")
    shots(page, "30-pin-wrong")
    tap_digits(page, "000000")
    locked = page.locator("#locked")
    expect(locked).to_be_visible()
    expect(locked).to_contain_text("dikunci sampai pukul")
    expect(page.locator("#pin-form")).to_have_count(0)  # no keypad while locked
    check_layout(page, "locked")
    shots(page, "31-pin-locked")

    # Reloading the page does not bring the keypad back, and the right PIN is refused while locked.
    page.goto(base + "/login/demo")
    expect(page.locator("#locked")).to_be_visible()
    resp = page.request.post(base + "/login/demo", form={"pin": "123456"})
    assert resp.status == 400  # no CSRF token: refused before the PIN is even looked at
    page.goto(base + "/")
    assert page.url == base + "/login"
    with station.db_lock:
        actions = [r[0] for r in station.conn.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions.count("login_wrong_pin") == 5 and "operator_locked" in actions
    page.goto(base + "/login/demo")
    expect(page.locator("#unlock-help")).to_contain_text("jemput operator unlock demo")  # no other supervisor
    expect(page.locator("#unlock-open")).to_have_count(0)


def test_a_supervisor_unlocks_a_locked_operator_at_the_kiosk(kiosk: Any, station: Any, page: Any,
                                                            shots: Any) -> None:
    from station.operators import add_operator

    with station.db_lock:
        add_operator(station.conn, "ani", "Ani Supervisor", "246810", role="supervisor")
    base = kiosk.url
    page.goto(base + "/login/demo")
    for _ in range(5):
        tap_digits(page, "000000")
    expect(page.locator("#locked")).to_be_visible()
    expect(page.locator("#unlock-help")).to_contain_text("supervisor")
    shots(page, "31-pin-locked")
    page.locator("#unlock-open").click()
    page.wait_for_url("**/unlock")
    expect(page.locator("input[name=supervisor][value=ani]")).to_be_checked()  # the only other supervisor
    tap_digits(page, "111111", "#unlock-form")
    page.locator("#unlock-ok").click()
    expect(page.locator("#unlock-error")).to_contain_text("PIN salah")
    check_layout(page, "unlock")
    shots(page, "32-unlock")
    tap_digits(page, "246810", "#unlock-form")
    page.locator("#unlock-ok").click()
    page.wait_for_url(base + "/login/demo")
    expect(page.locator(".flash.ok")).to_contain_text("tidak terkunci lagi")
    tap_digits(page, station.demo.pin)
    page.wait_for_url(base + "/")
    with station.db_lock:
        row = station.conn.execute("SELECT actor FROM audit_log WHERE action = 'operator_unlocked'").fetchone()
    assert row[0] == "ani"


def test_idle_operator_is_logged_out_and_the_draft_stays(kiosk: Any, station: Any, page: Any) -> None:
    base = kiosk.url
    login(page, base)
    cookie = next(c for c in page.context.cookies() if c["name"] == "jemput_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

    # Pretend the last activity was long ago by signing an old session with the app's own key.
    serializer = kiosk.app.session_interface.get_signing_serializer(kiosk.app)
    data = serializer.loads(cookie["value"])
    data["seen"] = time.time() - station.config.ui.idle_logout_s - 5
    old = serializer.dumps(data)
    page.context.add_cookies([{**cookie, "value": old}])
    page.goto(base + "/")
    assert page.url == base + "/login"
    expect(page.locator(".flash.info")).to_contain_text("tanpa aktivitas")
    with station.db_lock:
        row = station.conn.execute("SELECT actor FROM audit_log WHERE action = 'operator.idle_logout'").fetchone()
    assert row is not None and row[0] == "demo"


@pytest.fixture
def short_idle_kiosk(data_dir: Any) -> Any:
    """A station and kiosk that log the operator out after 4 s without activity."""
    from station.config import config_from_dict
    from station.demo_data import seed_demo
    from station.runtime import build_station, init_station
    from tests.ui.conftest import fast_builders, station_config
    from ui.server import KioskServer

    config = config_from_dict(station_config(data_dir, idle_logout_s=4))
    init_station(config)
    st = build_station(config, simulate=True, builders=fast_builders())
    st.start()
    with st.db_lock:
        st.demo = seed_demo(st.conn, config.station.district)
    server = KioskServer(st).start()
    try:
        yield server, st
    finally:
        server.stop()
        st.stop()


def test_a_resident_signing_keeps_the_operator_logged_in(short_idle_kiosk: Any, page: Any) -> None:
    import cv2

    from device_drivers.fingerprint.synthetic import synthetic_fingerprint
    from station.fingers import CAPTURE_ORDER
    from tests.ui.kiosk_steps import find_by_nik, open_session, start_recording, wait_photo_captured

    server, station = short_idle_kiosk
    base, demo = server.url, station.demo
    login(page, base)
    open_session(page, base, demo.villages[0])
    find_by_nik(page, demo.sample_niks[0])
    start_recording(page, demo.sample_niks[0])
    wait_photo_captured(page)
    draft_id = page.locator("body").get_attribute("data-draft")
    png = cv2.imencode(".png", synthetic_fingerprint(192, 192, "good", seed=1))[1].tobytes()
    page.locator("#photo-next").click()
    page.wait_for_url("**/fingerprints")
    for finger in CAPTURE_ORDER:
        station.enrollment.accept_finger(draft_id, finger, png, score=90, attempts=1, force_captured=False)
    page.goto(f"{base}/enroll/{draft_id}")
    page.wait_for_url("**/signature")
    started = time.monotonic()
    while time.monotonic() - started < 13:  # over twice the idle limit, no touch on the screen: only the pen
        station.devices.simulator.sign(seed=int(time.monotonic()))
        time.sleep(1.5)
    assert page.url.endswith("/signature"), page.url
    page.locator("#sig-accept").click()
    page.wait_for_url("**/review")
    with station.db_lock:
        assert station.conn.execute("SELECT 1 FROM audit_log WHERE action = 'operator.idle_logout'").fetchone() is None
