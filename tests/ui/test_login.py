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
