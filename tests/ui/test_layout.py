"""At 800x480 no screen scrolls sideways and every target is at least 48x48 CSS px, in both languages.

The resident-flow screens are checked on the way through in test_enrollment_flow; this walks the operator
screens (with data on them: a session, an unfinished recording, search results) and the simulator panel."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui.kiosk_steps import check_layout, find_by_nik, login, open_session, start_recording

pytestmark = [pytest.mark.browser]


@pytest.mark.parametrize("lang", ["id", "en"])
def test_operator_screens_fit_800x480_with_big_targets(kiosk: Any, station: Any, page: Any, shots: Any,
                                                        lang: str) -> None:
    base = kiosk.url
    demo = station.demo
    page.goto(base + "/login")
    if lang == "en":
        page.locator("button[aria-label='Bahasa']").click()
        expect(page.locator("h1")).to_contain_text("Who are you?")
    check_layout(page, f"{lang} login")
    login(page, base)
    open_session(page, base, demo.villages[0])
    find_by_nik(page, demo.sample_niks[1])
    start_recording(page, demo.sample_niks[1])  # leaves an unfinished recording for the home screen

    pages = {
        "home": "/", "session": "/session/open", "search-nik": "/search", "queue": "/queue", "report": "/report",
        "sim": "/sim", "error": "/enroll/no-such-draft",
    }
    for name, path in pages.items():
        page.goto(base + path)
        check_layout(page, f"{lang} {name}", scrolls=name == "sim")  # the simulator is a developer's tool
        if lang == "id" and name in ("home", "sim"):
            shots(page, f"40-{name}")
    expect(page.locator("#error-message")).to_be_visible()
    page.goto(base + "/sim")
    page.locator("#sim-back").click()  # the standalone simulator has a way back
    page.wait_for_url(base + "/")

    page.goto(base + "/search?mode=name")
    with station.db_lock:
        from station.roster import find_by_nik as lookup

        prefix = lookup(station.conn, demo.sample_niks[0]).nama[:3].upper()
    for key in prefix:
        page.locator(f"#keyboard [data-key='{key}']").click()
    expect(page.locator("[data-start]").first).to_be_visible()
    check_layout(page, f"{lang} search-name")
    if lang == "id":
        shots(page, "41-search-name")
    page.goto(base + "/")
    expect(page.locator("#drafts [data-resume]")).to_be_visible()
    check_layout(page, f"{lang} home with unfinished recording")


def test_resident_screens_fit_in_english_too(kiosk: Any, station: Any, page: Any) -> None:
    import cv2

    from device_drivers.fingerprint.synthetic import synthetic_fingerprint
    from station.fingers import CAPTURE_ORDER

    base, demo = kiosk.url, station.demo
    page.goto(base + "/login")
    page.locator("button[aria-label='Bahasa']").click()
    login(page, base)
    open_session(page, base, demo.villages[0])
    find_by_nik(page, demo.sample_niks[0])
    page.locator(f"[data-start='{demo.sample_niks[0]}']").click()
    page.wait_for_url("**/confirm")
    expect(page.locator("#consent-yes")).to_contain_text("resident agrees")
    check_layout(page, "en confirm")
    page.locator("#consent-yes").click()
    page.wait_for_url("**/photo")
    check_layout(page, "en photo")
    expect(page.locator("#photo-done")).to_be_visible(timeout=30_000)
    check_layout(page, "en photo taken")
    page.locator("#photo-next").click()
    page.wait_for_url("**/fingerprints")
    check_layout(page, "en fingers")
    page.locator("#sim-toggle").click()  # the simulator drawer must leave the finger's status readable
    expect(page.locator("#sim-panel")).to_be_visible()
    drawer, status = page.locator("#sim-panel").bounding_box(), page.locator("#finger-state").bounding_box()
    assert (drawer["x"] >= status["x"] + status["width"] or drawer["x"] + drawer["width"] <= status["x"]
            or drawer["y"] >= status["y"] + status["height"]), f"drawer {drawer} covers the status {status}"
    page.locator("#sim-toggle").click()
    page.locator("#exception-open").click()
    check_layout(page, "en exception modal")
    draft_id = page.locator("#fingers").get_attribute("data-draft")
    png = cv2.imencode(".png", synthetic_fingerprint(192, 192, "good", seed=1))[1].tobytes()
    for finger in CAPTURE_ORDER:
        station.enrollment.accept_finger(draft_id, finger, png, score=90, attempts=1, force_captured=False)
    page.goto(f"{base}/enroll/{draft_id}")
    page.wait_for_url("**/signature")
    check_layout(page, "en signature")
    page.locator("#sig-accept").click()  # no ink yet: refused, with a flash above the pad
    expect(page.locator(".flash.warn")).to_be_visible()
    check_layout(page, "en signature with a warning")
    page.locator("button[aria-label='Language']").click()
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator(".flash.warn")).to_have_count(0)
    page.locator("#sig-accept").click()
    expect(page.locator(".flash.warn")).to_be_visible()
    check_layout(page, "id signature with a warning")
    station.devices.simulator.sign()
    expect(page.locator("#sigpad")).not_to_have_attribute("data-points", "0", timeout=15_000)
    expect(page.locator(".flash.warn")).to_be_hidden()  # the refusal goes once the pen writes
    page.locator("#sig-accept").click()
    page.wait_for_url("**/review")
    check_layout(page, "en review")
    page.locator("[data-open='cancel-modal']").click()
    check_layout(page, "en cancel modal")
