"""Steps a person takes on the kiosk, as Playwright actions (shared by the browser tests)."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

LAYOUT_JS = """() => {
  const bad = [], outside = [];
  const sel = 'a, button, label.btn, [data-key], input[type=submit]';
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || style.visibility === 'hidden') continue;  // not shown
    const name = el.id || el.textContent.trim().slice(0, 30) || el.tagName;
    if (r.width < 48 || r.height < 48) bad.push(name + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
    const inScroller = el.closest('.scroll');  // lists that scroll on purpose (queue, search results)
    if (!inScroller && (r.bottom > window.innerHeight + 0.5 || r.right > window.innerWidth + 0.5))
      outside.push(name + ' bottom ' + Math.round(r.bottom) + ' right ' + Math.round(r.right));
  }
  const doc = document.documentElement;
  const main = document.querySelector('main');
  return {bad, scrollX: Math.max(doc.scrollWidth, document.body.scrollWidth) - window.innerWidth,
          mainScrollX: main ? main.scrollWidth - main.clientWidth : 0,
          mainScrollY: main ? main.scrollHeight - main.clientHeight : 0, outside};
}"""


def check_layout(page: Any, where: str, *, scrolls: bool = False) -> None:
    """No horizontal scrolling at 800x480, every target at least 48x48 CSS px and inside the screen, and (unless
    the screen is a list that ``scrolls``) no vertical overflow of the main area either."""
    result = page.evaluate(LAYOUT_JS)
    assert result["scrollX"] <= 0, f"{where}: page scrolls horizontally by {result['scrollX']} px"
    assert result["mainScrollX"] <= 0, f"{where}: content scrolls horizontally by {result['mainScrollX']} px"
    assert not result["bad"], f"{where}: targets smaller than 48x48: {result['bad']}"
    if not scrolls:
        assert result["mainScrollY"] <= 0, f"{where}: content overflows the screen by {result['mainScrollY']} px"
        assert not result["outside"], f"{where}: targets outside the 800x480 screen: {result['outside']}"


def tap_digits(page: Any, digits: str, scope: str = "") -> None:
    for d in digits:
        page.locator(f"{scope} .keypad [data-key='{d}']").first.click()


def login(page: Any, base: str, pin: str = "123456", username: str = "demo") -> None:
    page.goto(base + "/login")
    page.locator(f"[data-operator='{username}']").click()
    tap_digits(page, pin)  # the form submits itself after the sixth digit
    page.wait_for_url(base + "/")


def open_session(page: Any, base: str, kode_desa: str) -> None:
    page.goto(base + "/session/open")
    page.locator(f"[data-desa='{kode_desa}']").click()
    page.wait_for_url(base + "/search")


def find_by_nik(page: Any, nik: str) -> None:
    tap_digits(page, nik)
    expect(page.locator(f"[data-start='{nik}']")).to_be_visible()


def start_recording(page: Any, nik: str) -> None:
    page.locator(f"[data-start='{nik}']").click()
    page.wait_for_url("**/confirm")
    page.locator("#consent-yes").click()
    page.wait_for_url("**/photo")


def wait_photo_captured(page: Any) -> None:
    expect(page.locator("#photo-done")).to_be_visible(timeout=30_000)


def reach_fingers(page: Any, base: str, station: Any, nik: str | None = None) -> str:
    """Log in, open a session, record ``nik`` up to the fingerprint step; returns the draft id."""
    demo = station.demo
    nik = nik or demo.sample_niks[0]
    login(page, base)
    open_session(page, base, demo.villages[0])
    find_by_nik(page, nik)
    start_recording(page, nik)
    wait_photo_captured(page)
    page.locator("#photo-next").click()
    page.wait_for_url("**/fingerprints")
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "waiting")
    return page.locator("#fingers").get_attribute("data-draft")


def assert_inside(page: Any, targets: str, container: str) -> None:
    """Every element matching ``targets`` lies wholly inside ``container``'s box (nothing clipped by a dialog)."""
    clipped = page.evaluate("""([targets, container]) => {
      const box = document.querySelector(container).getBoundingClientRect();
      return Array.from(document.querySelectorAll(targets)).filter((el) => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5
                               || r.bottom > box.bottom + 0.5);
      }).map((el) => el.id || el.textContent.trim().slice(0, 20));
    }""", [targets, container])
    assert not clipped, f"clipped by {container}: {clipped}"


def time_to_power_banner(page: Any, action: Any) -> float:
    """Milliseconds from ``action()`` (e.g. cutting mains) to the power banner showing, timed in the page."""
    page.evaluate("""() => {
      window.__bannerAt = null;
      const b = document.querySelector('#power-banner');
      new MutationObserver(() => { if (!b.classList.contains('hidden') && window.__bannerAt === null)
        window.__bannerAt = performance.now(); }).observe(b, {attributes: true});
    }""")
    start = page.evaluate("performance.now()")
    action()
    deadline = time.monotonic() + 10
    while (shown := page.evaluate("window.__bannerAt")) is None:  # wait_for_function would need unsafe-eval
        assert time.monotonic() < deadline, "the power banner never showed"
        page.wait_for_timeout(50)
    return shown - start
