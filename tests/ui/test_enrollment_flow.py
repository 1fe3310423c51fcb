"""A resident recorded end to end on the kiosk, through headless Chromium at 800x480: PIN login, session, NIK
keypad, consent, photo auto-capture from the (synthetic) camera, ten fingers from the emulated sensor behind the
real driver, signature from the emulated pad, review, done, and the sealed record in the outbox."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from station import packets
from station.fingers import CAPTURE_ORDER
from station.record_codes import derive_code
from station.roster import find_by_nik as find_resident
from tests.ui.conftest import OFFICE_IDENTITIES, wait_until
from tests.ui.kiosk_steps import (
    check_layout,
    find_by_nik,
    wait_photo_captured,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def capture_finger(page: Any, station: Any, index: int, quality: str = "good") -> None:
    """Put a finger on the emulated sensor, wait until the page moved on to the next finger, lift it."""
    sim = station.devices.simulator
    expect(page.locator("#fingers")).to_have_attribute("data-current", CAPTURE_ORDER[index].code)
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "waiting")
    sim.place_finger(quality)
    if index + 1 < len(CAPTURE_ORDER):
        expect(page.locator("#fingers")).to_have_attribute("data-current", CAPTURE_ORDER[index + 1].code)
    else:
        page.wait_for_url("**/signature")
    sim.lift_finger()


def assert_no_plaintext_biometrics(station: Any, packet: bytes) -> None:
    """Open the packet as the office would, then look for every captured file's bytes (whole, and 64-byte slices
    from its middle and end) in every file under the data dir, WAL included: none may be there in clear."""
    opened = packets.open_packet(packet, OFFICE_IDENTITIES[station.config.office.biometrics_key],
                                 station.signing_key.public_key())
    assert {"photo.jpg", "signature.json", "signature.png"} <= set(opened.files)
    assert sum(name.startswith("fingers/") for name in opened.files) == 10
    needles = {}
    for name, data in opened.files.items():
        assert len(data) > 200, name
        mid, end = len(data) // 2, len(data) - 64
        needles[name] = (data, data[mid:mid + 64], data[end:])
    data_dir = station.config.station.data_dir
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files) or any(p.suffix == ".db" for p in files)
    for path in files:
        content = path.read_bytes()
        for name, pieces in needles.items():
            assert not any(piece in content for piece in pieces), f"plaintext {name} found in {path}"


def draft_of(station: Any) -> Any:
    drafts = station.enrollment.active_drafts()
    assert len(drafts) == 1
    return drafts[0]


def test_full_enrollment_ends_sealed_in_outbox(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    base = kiosk.url
    demo = station.demo
    nik = demo.sample_niks[0]

    page.goto(base + "/")
    page.wait_for_url(base + "/login")
    shots(page, "01-login")
    check_layout(page, "login")
    page.locator("[data-operator='demo']").click()
    page.locator(".keypad [data-key='1']").click()
    page.locator(".keypad [data-key='2']").click()
    shots(page, "02-pin")
    check_layout(page, "pin")
    for d in "3456":
        page.locator(f".keypad [data-key='{d}']").click()
    page.wait_for_url(base + "/")
    expect(page.locator("#h-battery")).to_contain_text("%")
    shots(page, "03-home")
    check_layout(page, "home")

    page.locator("a[href='/session/open']").click()
    shots(page, "04-session")
    check_layout(page, "session")
    page.locator(f"[data-desa='{demo.villages[0]}']").click()
    page.wait_for_url(base + "/search")

    # A wrong birth date is highlighted as the part that is wrong, before the NIK is even looked up.
    bad = nik[:6] + "99" + nik[8:]
    for d in bad:
        page.locator(f".keypad [data-key='{d}']").click()
    expect(page.locator("[data-part='birth_date']")).to_be_visible()
    assert page.locator("#nik-display .d.bad").count() == 6
    shots(page, "05-nik-invalid")
    check_layout(page, "search")
    page.locator(".keypad [data-key='clear']").click()
    find_by_nik(page, nik)
    shots(page, "06-nik-found")

    page.locator(f"[data-start='{nik}']").click()
    page.wait_for_url("**/confirm")
    expect(page.locator("#resident-data")).to_contain_text(nik)
    shots(page, "07-confirm")
    check_layout(page, "confirm")
    station.devices.simulator.set_scene("no_face")  # nobody in front of the camera yet: the page says so
    page.locator("#consent-yes").click()
    page.wait_for_url("**/photo")

    expect(page.locator("#hints li.fail[data-check='one_face']")).to_be_visible()
    main_hint = page.locator("#hints li.main svg.hint-pic")  # the check that matters most, as a big picture
    expect(main_hint).to_be_visible()
    assert main_hint.bounding_box()["width"] >= 96
    expect(page.locator("#preview")).to_have_js_property("complete", True)
    shots(page, "08-photo-hints")
    check_layout(page, "photo")
    station.devices.simulator.set_scene("portrait")
    wait_photo_captured(page)
    expect(page.locator("#captured")).to_be_visible()
    shots(page, "09-photo-taken")
    page.locator("#photo-next").click()
    page.wait_for_url("**/fingerprints")
    expect(page.locator("#fingers")).to_have_attribute("data-current", CAPTURE_ORDER[0].code)
    shots(page, "10-fingers")
    check_layout(page, "fingers")

    # The first finger through the simulator panel (the drawer in the top bar), the rest directly.
    page.locator("#sim-toggle").click()
    page.locator("[data-sim='place_finger'][data-arg='good']").click()
    expect(page.locator("#fingers")).to_have_attribute("data-current", CAPTURE_ORDER[1].code)
    page.locator("[data-sim='lift_finger']").click()
    page.locator("#sim-toggle").click()
    for i in range(1, len(CAPTURE_ORDER)):
        capture_finger(page, station, i)
        if i == 4:
            shots(page, "11-fingers-progress")

    expect(page.locator("#sigpad")).to_be_visible()
    check_layout(page, "signature")
    page.locator("#sig-accept").click()  # nothing signed yet: refused, with the reason
    expect(page.locator(".flash.warn")).to_contain_text("Belum ada tanda tangan")
    station.devices.simulator.sign()
    wait_until(lambda: int(page.locator("#sigpad").get_attribute("data-points") or 0) > 50, what="live ink")
    page.locator("#sig-redo").click()  # redo: the ink is gone, on screen and on the station
    expect(page.locator("#sigpad")).to_have_attribute("data-points", "0")
    station.devices.simulator.sign()
    wait_until(lambda: int(page.locator("#sigpad").get_attribute("data-points") or 0) > 50, what="live ink")
    shots(page, "12-signature")
    page.locator("#sig-accept").click()
    page.wait_for_url("**/review")
    expect(page.locator("#review-photo")).to_be_visible()
    expect(page.locator("#review-signature")).to_be_visible()
    assert page.locator("#finger-map [data-code]").count() == 10
    shots(page, "13-review")
    check_layout(page, "review")

    page.locator("#submit").click()
    page.wait_for_url("**/done/**")
    packet_id = page.locator("#record-no").get_attribute("data-packet")
    code = page.locator("#record-no").inner_text().strip()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code) and code == derive_code(packet_id)
    expect(page.locator("#done")).to_have_attribute("data-record", "sealed")  # no uploader here: stays sealed
    expect(page.locator("#slip-panel")).to_have_attribute("data-ok", "1")  # the emulated printer printed it
    expect(page.locator("#slip-msg")).to_contain_text("Bukti sudah dicetak")
    assert code in station.devices._fake_printer.last_slip.text
    shots(page, "14-done")
    check_layout(page, "done")

    item = station.outbox.get(packet_id)
    assert item is not None and str(item.state) == "sealed"
    assert item.nik == nik and item.path.exists()
    assert station.enrollment.active_drafts() == []
    assert_no_plaintext_biometrics(station, item.path.read_bytes())

    page.goto(base + "/queue")
    expect(page.locator(f"[data-packet='{packet_id}']")).to_be_visible()
    row = page.locator(f"[data-packet='{packet_id}']")
    with station.db_lock:
        name = find_resident(station.conn, nik).nama
    expect(row.locator(".q-who")).to_contain_text(name)  # names, not only NIKs, on the station's own screens
    expect(row.locator(".code")).to_have_text(code)
    shots(page, "15-queue")
    check_layout(page, "queue")
    station.devices.simulator.cut_mains()  # the top bar follows the power state by SSE
    expect(page.locator("#st-mains")).to_be_hidden(timeout=10_000)
    station.devices.simulator.restore_mains()
    expect(page.locator("#st-mains")).to_be_visible(timeout=10_000)
    page.goto(base + "/report")
    expect(page.locator("#r-today")).to_have_text("1")
    shots(page, "16-report")
    check_layout(page, "report")
