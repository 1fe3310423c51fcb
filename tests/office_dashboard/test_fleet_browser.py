"""The office dashboard in headless Chromium against a live district: real Mosquitto, the real ingest and two real
station processes in ``--simulate``. One district is shared by the tests of this module (they run in order)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from dashboard_env import ADMIN, DESA, UNREGISTERED, VIEWER, District, api, start_district, wait_for
from dashboard_helpers import PC, PHONE
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[District]:
    d = start_district(tmp_path_factory.mktemp("district"))
    try:
        yield d
    finally:
        d.close()


def _login(browser: Any, district: District, viewport: dict[str, int], user: tuple[str, str] = ADMIN) -> Any:
    context = browser.new_context(viewport=viewport, locale="id-ID", timezone_id="Asia/Jakarta")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(district.url + "/")
    page.wait_for_url("**/login**")
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("form.login button[type=submit]")
    page.wait_for_url(district.url + "/")
    return page


@pytest.fixture
def pc(browser: Any, district: District) -> Iterator[Any]:
    page = _login(browser, district, PC)
    yield page
    page.context.close()


def _row(page: Any, station: str) -> Any:
    return page.locator(f"#row-{station}")


def _sim(page: Any, kiosk: str, action: str, arg: str = "") -> None:
    """Press a simulator panel button on a station's kiosk (the panel's own POST, with its CSRF token), logged in
    as the station's operator (the simulator may require the operator log-in)."""
    if not page.url.startswith(kiosk + "/sim"):
        _kiosk_login(page, kiosk)
        page.goto(kiosk + "/sim")
    status = page.evaluate("""async ([action, arg]) => {
        const token = document.querySelector('meta[name=csrf-token]').content;
        const r = await fetch('/sim/' + action, {method: 'POST', headers: {'X-CSRFToken': token,
            'Content-Type': 'application/x-www-form-urlencoded'}, body: 'arg=' + encodeURIComponent(arg)});
        return r.status; }""", [action, arg])
    assert status == 200, f"simulator {action} answered {status}"


def test_both_stations_online_then_live_updates_without_reload(pc: Any, district: District, office_shots: Any,
                                                             browser: Any) -> None:
    for sid in ("kph-01", "kph-02"):
        expect(_row(pc, sid).locator(".pill.online")).to_be_visible(timeout=30_000)
    expect(_row(pc, "kph-01")).to_contain_text("Pala Pulau")        # the desa by name, from the status's code
    expect(pc.locator("#live")).to_have_class("live on")
    pc.evaluate("window.__sameDocument = true")
    sim = pc.context.new_page()
    try:
        _sim(sim, district.stations["kph-02"].kiosk, "unplug", "fingerprint")
        expect(_row(pc, "kph-02").locator(".dev.absent, .dev.fault")).to_be_visible(timeout=15_000)
        _sim(sim, district.stations["kph-02"].kiosk, "replug", "fingerprint")
        expect(_row(pc, "kph-02").locator(".dev.absent, .dev.fault")).to_have_count(0, timeout=15_000)
    finally:
        sim.close()
    assert pc.evaluate("window.__sameDocument") is True, "the list reloaded instead of updating live"
    office_shots(pc, "stations-pc")
    phone = _login(browser, district, PHONE)
    try:
        expect(phone.locator("#row-kph-01 .pill.online")).to_be_visible()
        expect(phone.locator("#fleet thead")).to_be_hidden()            # cards, not a table, on a phone
        assert phone.evaluate("getComputedStyle(document.querySelector('#row-kph-01')).display") == "grid"
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "phone page scrolls sideways"
        office_shots(phone, "stations-phone", full_page=True)
    finally:
        phone.context.close()


def test_status_arrives_on_the_page_within_two_seconds(pc: Any, district: District) -> None:
    """Timing the live path itself: a status published now is on the open page in well under 2 s."""
    expect(_row(pc, "kph-02").locator(".pill.online")).to_be_visible(timeout=30_000)
    pc.evaluate("""() => { window.__rows = []; document.addEventListener('jemput:station',
        e => window.__rows.push([e.detail.id, performance.now()])); }""")
    sim = pc.context.new_page()
    try:
        _sim(sim, district.stations["kph-02"].kiosk, "battery", "63")   # a 5 % step: the station reports at once
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            data = api(district, "/api/v1/dashboard/stations")
            row = next(s for s in data["stations"] if s["id"] == "kph-02")
            if row["battery_percent"] is not None and round(row["battery_percent"]) <= 64:
                stored_at = pc.evaluate("performance.now()")
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the battery change never reached the office")
        wait_for(lambda: any(r[0] == "kph-02" for r in pc.evaluate("window.__rows")), 5, what="live row")
        first = min(t for sid, t in pc.evaluate("window.__rows") if sid == "kph-02")
        assert first - stored_at < 2000, f"live row came {first - stored_at:.0f} ms after the status was stored"
        expect(_row(pc, "kph-02")).to_contain_text("6")
    finally:
        sim.close()


def test_battery_drain_raises_then_clears_the_battery_alert(pc: Any, district: District, office_shots: Any) -> None:
    kiosk = district.stations["kph-02"].kiosk
    sim = pc.context.new_page()
    try:
        _sim(sim, kiosk, "cut_mains")
        _sim(sim, kiosk, "battery", "15")
        strip = pc.locator("#alert-strip li[data-rule='battery_low'][data-station='kph-02']")
        expect(strip).to_be_visible(timeout=30_000)          # 2 consecutive statuses at <= 20 % on battery
        expect(strip).to_contain_text("15%")
        expect(_row(pc, "kph-02").locator(".batt.low")).to_be_visible()
        pc.goto(district.url + "/alerts")
        row = pc.locator("tr[data-rule='battery_low'][data-station='kph-02'].open")
        row.locator("button").click()                          # acknowledge (admin)
        expect(pc.locator("tr[data-rule='battery_low'][data-station='kph-02'].open")).to_contain_text(ADMIN[0])
        office_shots(pc, "alerts-pc")
        pc.goto(district.url + "/")
        _sim(sim, kiosk, "restore_mains")
        _sim(sim, kiosk, "battery", "80")
        expect(pc.locator("#alert-strip li[data-rule='battery_low']")).to_have_count(0, timeout=30_000)
    finally:
        sim.close()
    cleared = api(district, "/api/v1/dashboard/alerts?show=all")["alerts"]
    battery = [a for a in cleared if a["rule"] == "battery_low" and a["station"] == "kph-02"]
    assert battery and battery[0]["cleared_at"] and battery[0]["acked_by"] == ADMIN[0]


def _kiosk_login(page: Any, kiosk: str) -> None:
    import sys

    sys_path = str(ROOT / "tests" / "ui")
    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    from kiosk_steps import login

    login(page, kiosk)


def _kiosk_start(page: Any, kiosk: str, nik: str) -> None:
    from kiosk_steps import find_by_nik

    _kiosk_login(page, kiosk)
    page.goto(kiosk + "/search")
    if "/session/open" in page.url:
        page.locator(f"[data-desa='{_demo_desa()}']").click()
        page.wait_for_url("**/search")
    find_by_nik(page, nik)
    page.locator(f"[data-start='{nik}']").click()


def _demo_desa() -> str:
    from station.demo_data import demo_villages

    return demo_villages("6106")[0]


def _demo_nik() -> str:
    from station.demo_data import demo_roster_csv

    return demo_roster_csv("6106").splitlines()[1].split(",")[0]


def test_lock_command_round_trip_and_the_kiosk_refuses_new_work(pc: Any, district: District, browser: Any,
                                                              office_shots: Any) -> None:
    station = district.stations["kph-02"]
    pc.goto(district.url + "/stations/kph-02")
    pc.fill("#lock-reason", "Cek baterai sebelum sesi berikut")
    pc.click("#cmd-lock")
    done = pc.locator("#command-list tr[data-name='lock'][data-state='ok']")
    expect(done).to_be_visible(timeout=20_000)               # sent -> the station's reply
    expect(pc.locator("#facts")).to_contain_text("ya")       # the status now says locked
    office_shots(pc, "station-pc", full_page=True)
    kiosk = browser.new_context(viewport={"width": 800, "height": 480}, locale="id-ID").new_page()
    try:
        kiosk.set_default_timeout(15_000)
        nik = _demo_nik()
        _kiosk_start(kiosk, station.kiosk, nik)
        expect(kiosk.locator("body")).to_contain_text("dikunci oleh kantor")   # "The office has locked this station"
        assert "/confirm" not in kiosk.url
        pc.click("#cmd-unlock")
        expect(pc.locator("#command-list tr[data-name='unlock'][data-state='ok']")).to_be_visible(timeout=20_000)
        kiosk.goto(station.kiosk + "/search")
        from kiosk_steps import find_by_nik

        find_by_nik(kiosk, nik)
        kiosk.locator(f"[data-start='{nik}']").click()
        kiosk.wait_for_url("**/confirm")                     # new work allowed again
    finally:
        kiosk.context.close()
    audit = [e["action"] for e in _audit(district)]
    assert "command.lock" in audit and "command.unlock" in audit


def _audit(district: District) -> list[dict[str, Any]]:
    from office.audit import recent_office_audit, verify_office_audit

    assert verify_office_audit(district.engine).ok
    return [{"action": e.action, "actor": e.actor} for e in recent_office_audit(district.engine, 200)]


def test_viewer_sees_no_command_forms(browser: Any, district: District) -> None:
    page = _login(browser, district, PC, VIEWER)
    try:
        page.goto(district.url + "/stations/kph-02")
        expect(page.locator("#cmd-lock")).to_have_count(0)
        expect(page.locator("#commands")).to_contain_text("admin")
    finally:
        page.context.close()


def _raw_client(district: District, user: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, district.broker.passwords[user])
    client.connect("127.0.0.1", district.broker.port, keepalive=5)
    client.loop_start()
    wait_for(client.is_connected, 5, what=f"{user} connected")
    return client


def test_bad_messages_are_counted_never_shown_and_never_break_the_page(pc: Any, district: District) -> None:
    before = dict(district.ingest.stats)
    rogue = _raw_client(district, UNREGISTERED)
    try:
        good = {"schema": "jemput.status/1", "station": UNREGISTERED, "district": "6106",
                "ts": "2030-01-01T00:00:00Z", "power": {}, "queue": {}, "devices": {}, "storage": {}}
        other = dict(good, district="6107")
        for topic, payload in ((f"jemput/v1/6106/{UNREGISTERED}/status", b"{not json"),
                               (f"jemput/v1/6106/{UNREGISTERED}/status", json.dumps({"schema": "x/1"})),
                               (f"jemput/v1/6106/{UNREGISTERED}/status", json.dumps(good)),
                               (f"jemput/v1/6107/{UNREGISTERED}/status", json.dumps(other))):
            rogue.publish(topic, payload, qos=1).wait_for_publish(5)
        stats = district.ingest.stats
        wait_for(lambda: stats["rejected:bad_json"] > before.get("rejected:bad_json", 0)
                 and stats["rejected:bad_schema"] > before.get("rejected:bad_schema", 0)
                 and stats["unknown_station"] > before.get("unknown_station", 0)
                 and stats["rejected:wrong_district"] + stats["rejected:other_district"]
                 > before.get("rejected:wrong_district", 0) + before.get("rejected:other_district", 0),
                 10, what="bad messages counted")
    finally:
        rogue.disconnect()
        rogue.loop_stop()
    pc.goto(district.url + "/")
    expect(pc.locator(f"#row-{UNREGISTERED}")).to_have_count(0)
    expect(pc.locator("#ingest-counters")).to_be_visible()
    expect(_row(pc, "kph-01")).to_be_visible()
    ids = [s["id"] for s in api(district, "/api/v1/dashboard/stations")["stations"]]
    assert UNREGISTERED not in ids and {"kph-01", "kph-02"} <= set(ids)
    assert api(district, "/api/v1/dashboard/stations")["ingest"]["unknown_station"] >= 1


def test_sigkill_turns_the_card_offline_raises_the_offline_alert_and_restart_clears_it(
        browser: Any, district: District, office_shots: Any) -> None:
    phone = _login(browser, district, PHONE)
    try:
        card = phone.locator("#row-kph-01")
        expect(card.locator(".pill.online")).to_be_visible(timeout=30_000)
        district.stations["kph-01"].kill()
        expect(card.locator(".pill.offline")).to_be_visible(timeout=20_000)        # the last will
        alert = phone.locator("#alert-strip li[data-rule='offline_session'][data-station='kph-01']")
        expect(alert).to_be_visible(timeout=20_000)                                # after offline_after_s = 4 s
        expect(card.locator(".pill.offline.urgent")).to_be_visible()               # a session is open there
        expect(phone.locator("#row-kph-02 .pill.online")).to_be_visible()         # the other one is fine
        office_shots(phone, "stations-phone-offline", full_page=True)
        district.stations["kph-01"].start()
        expect(card.locator(".pill.online")).to_be_visible(timeout=30_000)
        expect(alert).to_have_count(0, timeout=20_000)
    finally:
        phone.context.close()
    rows = api(district, "/api/v1/dashboard/alerts?show=all")["alerts"]
    offline = [a for a in rows if a["rule"] == "offline_session" and a["station"] == "kph-01"]
    assert offline and offline[0]["cleared_at"] is not None
    assert DESA.startswith("61.06.01")
