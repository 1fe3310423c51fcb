"""The Cakupan, Perencana and Rekaman pages in headless Chromium, against a real office receiving real records.

Screenshots at 1280x800 and 360x740 go to tests/artifacts/office-dashboard/. The ``browser`` fixture is the
dashboard tests' own (conftest.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from office import users
from office.record_index import unindexed
from station.roster import find_by_nik, import_roster
from tests.office_dashboard.rig import office_with_stations, resident

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "office-dashboard"
PASSWORD = "kapuas-hulu-2018"
KEC = "61.06.17"                     # Putussibau Selatan
JARAS, SIBAU = "61.06.17.2004", "61.06.17.2005"
SIZES = {"pc": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}


@pytest.fixture
def world(tmp_path):
    with office_with_stations(tmp_path) as (office, rigs):
        users.add_user(office.engine, "kepala", PASSWORD, "admin")
        yield office, rigs


def _page(browser, office, size="pc"):
    context = browser.new_context(viewport=SIZES[size], locale="id-ID", accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{office.server.url}/login")
    page.fill("#username", "kepala")
    page.fill("#password", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("nav.nav")
    return page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _wait_indexed(office, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while unindexed(office.engine):
        assert time.monotonic() < deadline, "the office did not index the received packets"
        time.sleep(0.1)


def _fill_of(page, kode: str) -> str:
    return page.locator(f'#kec-map path[data-kode="{kode}"]').get_attribute("fill")


def test_import_receive_and_watch_coverage_and_the_map_change(browser, world, tmp_path):
    office, rigs = world
    people = [resident(JARAS, i) for i in range(1, 6)] + [resident(SIBAU, i) for i in range(6, 9)]
    targets = tmp_path / "targets-putussibau.csv"
    targets.write_text("kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n"
                       f"{KEC},Putussibau Selatan,10,4\n61.06.18,Kalis,100,99\n61.06.99,Tidak ada,5,1\n")
    residents = tmp_path / "penduduk.csv"
    residents.write_text("nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n" + "".join(
        f"{p.nik},{p.nama},{p.tanggal_lahir.isoformat()},{p.jenis_kelamin},{p.kode_desa},{p.alamat}\n"
        for p in people) + "123,Salah,1990-01-01,L,61.06.17.2004,x\n")
    page = _page(browser, office)
    page.goto(f"{office.server.url}/cakupan")
    page.set_input_files("#targets-file", str(targets))
    page.click("#targets-submit")
    page.wait_for_selector(".flash")
    flashes = page.locator(".flash").all_inner_texts()
    assert any("2 baris diimpor, 1 dilewati" in f for f in flashes)
    assert any("baris 4" in f and "unknown kode_wilayah 61.06.99" in f for f in flashes)
    page.set_input_files("#residents-file", str(residents))
    page.click("#residents-submit")
    page.wait_for_selector(".flash")
    assert any("8 baris diimpor, 1 dilewati" in f for f in page.locator(".flash").all_inner_texts())
    row = page.locator(f'#kec-table tr[data-kode="{KEC}"]')
    assert row.locator('[data-col="percent"]').inner_text().startswith("40,0")
    before_fill = _fill_of(page, KEC)
    assert before_fill == "#d73027"            # 40 %: the lowest colour
    assert page.locator("#kec-map ul.legend li").count() == 6
    assert page.locator("#kec-map text", has_text="Putussibau Selatan").count() == 1
    for who in people[:4]:
        rigs["kph-01"].record_and_upload(who)
    _wait_indexed(office)
    page.goto(f"{office.server.url}/cakupan")
    row = page.locator(f'#kec-table tr[data-kode="{KEC}"]')
    assert row.locator('[data-col="since"]').inner_text() == "4"
    assert row.locator('[data-col="percent"]').inner_text().startswith("80,0")
    assert row.locator('[data-col="remaining"]').inner_text() == "2"
    assert _fill_of(page, KEC) == "#fee08b" != before_fill     # 80 %: its colour changed
    assert page.locator('[data-kpi="since"]').inner_text() == "4"
    assert page.locator("svg.chart-svg rect[data-count='4']").count() == 1
    _shot(page, "cakupan-1280x800")
    page.locator(f'#kec-map a:has(path[data-kode="{KEC}"])').click()
    page.wait_for_url(f"**kecamatan={KEC}**")
    assert page.locator(f'#desa-map path[data-kode="{JARAS}"]').count() == 1
    assert page.locator(f'#desa-table tr[data-kode="{JARAS}"] [data-col="since"]').inner_text() == "4"
    _shot(page, "cakupan-desa-1280x800")
    phone = _page(browser, office, "phone")
    phone.goto(f"{office.server.url}/cakupan")
    assert phone.locator("#kec-map svg.map").bounding_box()["width"] <= 360
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    _shot(phone, "cakupan-360x740")


def test_planner_order_and_roster_export_round_trip(browser, world, tmp_path):
    office, rigs = world
    people = [resident(JARAS, i) for i in range(1, 4)] + [resident(SIBAU, i) for i in range(4, 9)]
    residents = tmp_path / "penduduk.csv"
    residents.write_text("nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n" + "".join(
        f"{p.nik},{p.nama},{p.tanggal_lahir.isoformat()},{p.jenis_kelamin},{p.kode_desa},{p.alamat}\n"
        for p in people))
    page = _page(browser, office)
    page.goto(f"{office.server.url}/cakupan")
    page.set_input_files("#residents-file", str(residents))
    page.click("#residents-submit")
    page.wait_for_selector(".flash")
    rigs["kph-02"].record_and_upload(people[3])            # one of Sibau Hilir's five
    _wait_indexed(office)
    page.goto(f"{office.server.url}/perencana?kecamatan={KEC}")
    order = page.locator("#planner tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kode)")
    assert order[:2] == [SIBAU, JARAS]                         # 4 unrecorded, then 3
    sibau = page.locator(f'#planner tr[data-kode="{SIBAU}"]')
    assert sibau.locator('[data-col="unrecorded"]').inner_text().startswith("4")
    assert "kph-02" in sibau.inner_text()
    assert "garis lurus" in page.locator("#distance-note").inner_text()
    _shot(page, "perencana-1280x800")
    page.locator(f'input[name="desa"][value="{SIBAU}"]').check()
    page.locator(f'input[name="desa"][value="{JARAS}"]').check()
    with page.expect_download() as download:
        page.click("#roster-export")
    roster = tmp_path / "roster.csv"
    download.value.save_as(roster)
    station = rigs["kph-01"].station
    with station.db_lock:
        report = import_roster(station.conn, roster)
    assert (report.imported, report.skipped) == (7, 0)
    assert find_by_nik(station.conn, people[3].nik) is None and find_by_nik(station.conn, people[0].nik)
    phone = _page(browser, office, "phone")
    phone.goto(f"{office.server.url}/perencana?kecamatan={KEC}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    _shot(phone, "perencana-360x740")


def test_a_nik_from_two_stations_raises_the_duplicate_alert(browser, world):
    office, rigs = world
    twice = resident(JARAS, 42)
    rigs["kph-01"].record_and_upload(twice)
    rigs["kph-01"].record_and_upload(resident(JARAS, 43))
    rigs["kph-02"].record_and_upload(twice, seed=7)
    _wait_indexed(office)
    page = _page(browser, office)
    page.goto(f"{office.server.url}/rekaman")
    strip = page.locator('#alert-strip li[data-rule="duplicate_nik"]')
    assert strip.count() == 1 and twice.nik in strip.inner_text() and strip.get_attribute("data-station") == "kph-02"
    assert page.locator("#records tbody tr").count() == 3
    assert page.locator("#dup-banner").count() == 1
    _shot(page, "rekaman-1280x800")
    page.select_option("#r-station", "kph-02")
    page.click("#record-filters button[type=submit]")
    page.wait_for_url("**station=kph-02**")
    page.wait_for_selector("#records")
    assert page.locator("#records tbody tr").count() == 1
    page.goto(f"{office.server.url}/rekaman/ganda")
    group = page.locator(f'section.dup[data-nik="{twice.nik}"]')
    assert group.locator("tbody tr").count() == 2
    assert "kph-01" in group.inner_text() and "kph-02" in group.inner_text()
    phone = _page(browser, office, "phone")
    phone.goto(f"{office.server.url}/rekaman")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    _shot(phone, "rekaman-360x740")
    api = page.request.get(f"{office.server.url}/api/v1/dashboard/records?station=kph-02").json()
    assert api["total"] == 1 and api["records"][0]["nik"] == twice.nik
    cov = page.request.get(f"{office.server.url}/api/v1/dashboard/coverage?level=desa&kecamatan={KEC}").json()
    assert {r["kode"]: r["recorded_since"] for r in cov["rows"]}[JARAS] == 2
    plan = page.request.get(f"{office.server.url}/api/v1/dashboard/planner?kecamatan={KEC}").json()
    assert plan["office_location"] == {"lat": 0.8363, "lng": 112.9311} and plan["rows"]
