"""Residents never read a developer's exception text: each station error maps to a translated message (both
languages), the error page and the JSON API use it, and a capture error that is not the cable says what it is."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from station.devices import DeviceUnavailable
from station.enrollment import DuplicateResident, EnrollmentError, StartRefused, StepError
from station.errors import StorageFull
from station.sessions import SessionError
from tests.ui.kiosk_steps import reach_fingers
from tests.ui.test_app import client, log_in, plain_station  # noqa: F401 - fixtures
from ui.errors import user_message

ERRORS = [
    (StorageFull("database or disk is full (free 3 MB < 50 MB)"), "penyimpanan", "storage is full"),
    (StartRefused("station locked by the office: audit pending", kind="locked"), "dikunci", "locked"),
    (StartRefused("station not provisioned: office.public_key is not set", kind="not_provisioned"),
     "belum disiapkan", "not set up"),
    (DuplicateResident("NIK 6106... already recorded"), "sudah direkam", "already recorded"),
    (StepError("draft is at step photo, not signature"), "langkah", "step"),
    (EnrollmentError("no draft nope"), "tidak ditemukan", "not found"),
    (EnrollmentError("signature: no pen points"), "tidak dapat dilanjutkan", "could not continue"),
    (SessionError("session abc is already closed"), "sesi", "session"),
    (KeyError("packet-123"), "tidak ditemukan", "not found"),
]


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_error_class_has_a_translated_message(plain_station: Any, lang: str) -> None:  # noqa: F811
    from ui import create_app

    app = create_app(plain_station, testing=True)
    try:
        with app.test_request_context("/", headers={"Accept-Language": lang}):
            from flask import session

            session["lang"] = lang
            for exc, word_id, word_en in ERRORS:
                text = user_message(exc)
                assert str(exc).strip("'") not in text, f"{type(exc).__name__} leaks its English detail"
                assert (word_id if lang == "id" else word_en) in text.lower(), f"{type(exc).__name__}: {text!r}"
            dev = DeviceUnavailable("fingerprint")
            assert user_message(dev) == (dev.reason_id if lang == "id" else dev.reason_en)
    finally:
        app.extensions["jemput"].capture.stop()


def test_error_page_and_api_show_no_english_detail(client: Any) -> None:  # noqa: F811
    log_in(client)
    page = client.get("/enroll/nope/confirm")
    assert page.status_code == 409
    assert "no draft" not in page.text and "tidak ditemukan" in page.text
    api = client.get("/enroll/nope/confirm", headers={"Content-Type": "application/json"})
    assert api.json["code"] == "not_found" and "no draft" not in api.json["error"]


@pytest.mark.browser
def test_storage_full_while_accepting_a_finger_is_not_a_cable_problem(kiosk: Any, station: Any, page: Any,
                                                                      monkeypatch: Any) -> None:
    reach_fingers(page, kiosk.url, station)

    def full(*args: Any, **kwargs: Any) -> None:
        raise StorageFull("database or disk is full")

    monkeypatch.setattr(station.enrollment, "accept_finger", full)
    station.devices.simulator.place_finger("good")
    state = page.locator("#finger-state")
    expect(state).to_have_attribute("data-state", "error")
    expect(page.locator("#finger-msg")).to_contain_text("Penyimpanan stasiun penuh")
    expect(page.locator("#device-banner")).to_be_hidden()
    assert "disk is full" not in page.locator("main").inner_text()
    station.devices.simulator.lift_finger()


@pytest.mark.browser
def test_storage_full_while_sealing_the_photo_says_so(kiosk: Any, station: Any, page: Any, monkeypatch: Any) -> None:
    from tests.ui.kiosk_steps import find_by_nik, login, open_session, start_recording

    def full(*args: Any, **kwargs: Any) -> None:
        raise StorageFull("database or disk is full")

    monkeypatch.setattr(station.enrollment, "accept_photo", full)
    login(page, kiosk.url)
    open_session(page, kiosk.url, station.demo.villages[0])
    find_by_nik(page, station.demo.sample_niks[0])
    start_recording(page, station.demo.sample_niks[0])
    expect(page.locator("#device-banner")).to_contain_text("Penyimpanan stasiun penuh", timeout=30_000)
    assert "disk is full" not in page.locator("main").inner_text()
