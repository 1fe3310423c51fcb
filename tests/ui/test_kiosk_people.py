"""Where real people went wrong on the kiosk, at 800x480: the silent finger read, codes instead of names, a refusal
only after the tap, the done screen that did not follow the record, and the resident's slip."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from station.config import config_from_dict
from station.demo_data import seed_demo
from station.runtime import build_station, init_station
from station.wilayah_names import label
from tests.ui.conftest import station_config, wait_until
from tests.ui.kiosk_steps import check_layout, login, open_session, reach_fingers, tap_digits
from tests.ui.test_slip import add_record

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def paced_kiosk(data_dir: Any) -> Iterator[tuple[Any, Any]]:
    """A station whose emulated sensor sends its image at the real line rate (115200 baud after the switch)."""
    from station.devices import DeviceHub
    from station.power import PowerPolicy
    from ui.server import KioskServer

    def devices(station: Any, simulate: bool) -> Any:
        return DeviceHub(station.config, station.bus, simulate=True, pace=True, monitor_interval_s=0.5)

    def power(station: Any, simulate: bool) -> Any:
        return PowerPolicy(station.config.power, station.devices.battery, station.bus, lambda: None,
                           poll_interval_s=1.0)

    config = config_from_dict(station_config(data_dir))
    init_station(config)
    st = build_station(config, simulate=True, builders={"devices": devices, "power": power})
    st.start()
    with st.db_lock:
        st.demo = seed_demo(st.conn, config.station.district)
    server = KioskServer(st).start()
    try:
        yield server, st
    finally:
        server.stop()
        st.stop()


WATCH_STATE_JS = """() => {
  window.__stateAt = {};
  const s = document.querySelector('#finger-state');
  new MutationObserver(() => { const k = s.dataset.state; if (!(k in window.__stateAt))
    window.__stateAt[k] = performance.now(); }).observe(s, {attributes: true});
}"""


def test_finger_read_says_hold_at_once_shows_progress_and_tells_an_early_lift(paced_kiosk: Any, page: Any,
                                                                           shots: Any) -> None:
    kiosk, station = paced_kiosk
    reach_fingers(page, kiosk.url, station)
    assert station.devices.sensor.baudrate == 115200  # switched to the sensor's top rate
    sim = station.devices.simulator
    page.evaluate(WATCH_STATE_JS)
    start = page.evaluate("performance.now()")
    sim.place_finger("good")
    wait_until(lambda: page.evaluate("window.__stateAt.reading") is not None, what="the hold message")
    waited_ms = page.evaluate("window.__stateAt.reading") - start
    assert waited_ms < 500, f"'hold' shown {waited_ms:.0f} ms after the finger was placed"
    expect(page.locator("#finger-msg")).to_contain_text("Tahan")
    meter = page.locator(".meter")
    wait_until(lambda: 20 <= int(meter.get_attribute("data-progress") or 0) < 100, what="read progress")
    shots(page, "11-finger-hold")
    check_layout(page, "finger read in progress")
    sim.lift_finger()  # lifted in the middle of the read
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "lifted_early", timeout=10_000)
    expect(page.locator("#finger-msg")).to_contain_text("terlalu cepat")
    shots(page, "19-finger-lifted-early")
    draft = station.enrollment.get(page.locator("#fingers").get_attribute("data-draft"))
    assert not draft.fingers  # that touch did not count
    sim.place_finger("good")  # held until the end this time
    expect(page.locator("#fingers")).not_to_have_attribute("data-current", draft.next_finger.code, timeout=15_000)
    sim.lift_finger()


def test_names_not_codes_and_marks_before_the_tap(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    base, demo = kiosk.url, station.demo
    desa, other = demo.villages
    assert label(desa) != desa  # the demo desa are real ones with names
    login(page, base)
    page.goto(base + "/session/open")
    expect(page.locator(f"[data-desa='{desa}']")).to_contain_text(label(desa))
    shots(page, "04-session")
    open_session(page, base, desa)
    expect(page.locator(".topbar .title")).to_contain_text(label(desa))

    recorded_nik = demo.sample_niks[0]
    add_record(station, recorded_nik)
    tap_digits(page, recorded_nik)
    result = page.locator(f"[data-result='{recorded_nik}']")
    expect(result.locator("[data-mark='recorded']")).to_be_visible()
    assert result.locator("button[data-start]").count() == 0  # nothing to tap that will be refused
    expect(result.locator(".facts")).to_contain_text(re.compile("Laki-laki|Perempuan"))  # not L / P
    for part in result.locator(".facts .nowrap").all():
        assert part.bounding_box()["height"] < 32, "a date or sex wrapped onto two lines"
    check_layout(page, "search with a recorded resident")

    with station.db_lock:
        outsider = station.conn.execute("SELECT nik, nama FROM residents WHERE kode_desa = ? LIMIT 1",
                                        (other,)).fetchone()
    page.locator("#nik-search [data-key='clear']").click()
    tap_digits(page, outsider[0])
    result = page.locator(f"[data-result='{outsider[0]}']")
    expect(result.locator("[data-mark='other-desa']")).to_contain_text(label(other))
    shots(page, "06-nik-found")
    result.locator("button[data-start]").click()
    expect(page.locator("#confirm-modal")).to_be_visible()  # asked first
    expect(page.locator("#confirm-text")).to_contain_text(label(other))
    page.locator("#confirm-yes").click()
    page.wait_for_url("**/confirm")
    expect(page.locator("#resident-desa")).to_have_text(label(other))


def test_done_screen_follows_the_record_and_the_slip_can_be_printed_again(kiosk: Any, station: Any, page: Any,
                                                                          shots: Any) -> None:
    base = kiosk.url
    login(page, base)
    packet_id = add_record(station, station.demo.sample_niks[1])
    sim = station.devices.simulator
    sim.printer_paper(loaded=False)
    page.goto(f"{base}/enroll/done/{packet_id}")
    expect(page.locator("#done")).to_have_attribute("data-record", "sealed")
    page.locator("#slip-print").click()
    expect(page.locator("#slip-panel")).to_have_attribute("data-problem", "paper_out")
    expect(page.locator("#slip-msg")).to_contain_text("Kertas habis")
    check_layout(page, "done with paper out")
    shots(page, "17-slip-paper-out")

    sim.printer_paper(loaded=True)
    page.locator("#slip-print").click()
    expect(page.locator("#slip-panel")).to_have_attribute("data-ok", "1")
    assert station.devices._fake_printer.wait_for_slips(1)

    # the office acknowledges: the screen follows without a reload
    station.outbox.mark_uploading(packet_id, upload_url=None, offset=0)
    station.bus.publish("sync.progress", packet_id=packet_id, offset=1, size_bytes=2)
    expect(page.locator("#done")).to_have_attribute("data-record", "sending")
    station.outbox.acknowledge(packet_id, {"packet_id": packet_id})
    station.bus.publish("sync.done", packet_id=packet_id, already_received=False)
    expect(page.locator("#done")).to_have_attribute("data-record", "received")
    expect(page.locator("#record-track li[data-step='received']")).to_have_class(re.compile(r"\bdone\b"))

    page.goto(base + "/queue")  # a reprint from the queue
    page.locator(f"[data-reprint='{packet_id}']").click()
    expect(page.locator(".flash.ok")).to_contain_text("Bukti sudah dicetak")
    assert station.devices._fake_printer.wait_for_slips(2)
    check_layout(page, "queue", scrolls=True)

    page.goto(base + "/sim")  # the simulator shows the slip as paper
    image = page.locator("#slip-image")
    expect(image).to_be_visible()
    wait_until(lambda: page.evaluate("document.querySelector('#slip-image').naturalWidth") == 384,
               what="the slip image")
    image.scroll_into_view_if_needed()
    shots(page, "42-sim-slip")


def test_without_a_printer_nothing_is_offered_and_nothing_fails(kiosk: Any, station: Any, page: Any) -> None:
    station.devices.printer = None  # [devices.printer] port not set
    base = kiosk.url
    login(page, base)
    packet_id = add_record(station, station.demo.sample_niks[2])
    page.goto(f"{base}/enroll/done/{packet_id}")
    expect(page.locator("#record-no")).to_be_visible()
    assert page.locator("#slip-panel").count() == 0
    page.goto(base + "/queue")
    expect(page.locator(f"[data-packet='{packet_id}']")).to_be_visible()
    assert page.locator("[data-reprint]").count() == 0
    response = page.request.post(f"{base}/queue/{packet_id}/slip")
    assert response.status in (400, 404)  # no route to a printer that is not there (400: no CSRF token)


def test_favicon_and_sim_battery_level(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    base = kiosk.url
    response = page.request.get(base + "/favicon.ico")
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
    login(page, base)
    page.goto(base + "/sim")
    page.locator("[data-sim='cut_mains']").click()
    page.locator("#sim-battery [data-arg='8']").click()
    wait_until(lambda: not station.power.allows_new_enrollment(), what="the stop level")
    page.goto(base + "/")
    expect(page.locator("#power-banner")).to_contain_text("Baterai hampir habis")
    check_layout(page, "home with the low-battery banner")
    shots(page, "24-battery-banner")
    page.goto(base + "/sim")
    page.locator("[data-sim='restore_mains']").click()
    page.locator("#sim-battery [data-arg='80']").click()
    wait_until(lambda: station.power.allows_new_enrollment(), what="the ok level")
