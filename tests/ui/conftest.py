"""Fixtures for the kiosk tests: a real station (simulated devices behind the real drivers, real SQLite), the UI
served by waitress on a free loopback port, and headless Chromium at 800x480 through Playwright."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from station import keys
from station.config import config_from_dict
from station.demo_data import seed_demo
from station.runtime import build_station, init_station

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 800, "height": 480}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OFFICE_IDENTITIES: dict[str, str] = {}
"""The office's age secret for each test station's recipient, so a test can open what the station sealed
(keyed by the biometrics recipient too: that identity opens every part)."""


def station_config(data_dir: Path, *, port: int | None = None, idle_logout_s: int = 300) -> dict[str, Any]:
    secret, recipient = keys.generate_age_identity()
    bio_secret, bio_recipient = keys.generate_age_identity()
    OFFICE_IDENTITIES[recipient] = secret
    OFFICE_IDENTITIES[bio_recipient] = bio_secret
    return {
        "station": {"id": "kph-01", "district": "6106", "data_dir": str(data_dir)},
        "ui": {"port": port or free_port(), "idle_logout_s": idle_logout_s},
        "office": {"public_key": recipient, "biometrics_key": bio_recipient},
        "devices": {"camera": {"backend": "synthetic"}},
    }


def fast_builders() -> dict[str, Callable[[Any, bool], Any]]:
    """Simulated devices with unpaced emulators (the bytes still cross real ptys and the real drivers)."""
    from station.devices import DeviceHub
    from station.power import PowerPolicy

    def devices(station: Any, simulate: bool) -> Any:
        return DeviceHub(station.config, station.bus, simulate=True, pace=False, monitor_interval_s=0.5)

    def power(station: Any, simulate: bool) -> Any:
        return PowerPolicy(station.config.power, station.devices.battery, station.bus, lambda: None,
                           poll_interval_s=1.0)

    return {"devices": devices, "power": power}


@pytest.fixture
def station(data_dir: Path) -> Iterator[Any]:
    """A started station in simulate mode with the demo operator and roster."""
    config = config_from_dict(station_config(data_dir))
    init_station(config)
    st = build_station(config, simulate=True, builders=fast_builders())
    st.start()
    with st.db_lock:
        st.demo = seed_demo(st.conn, config.station.district)
    try:
        yield st
    finally:
        st.stop()


@pytest.fixture
def kiosk(station: Any) -> Iterator[Any]:
    from ui.server import KioskServer

    server = KioskServer(station).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, locale="id-ID")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="session")
def shots(artifacts_dir: Path) -> Callable[[Any, str], Path]:
    """``shots(page, "03-home")`` saves ``tests/artifacts/ui/03-home.png`` (the operator guide's pictures)."""
    folder = artifacts_dir / "ui"
    folder.mkdir(parents=True, exist_ok=True)

    def take(pg: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        pg.screenshot(path=str(path))
        return path

    return take


def wait_until(predicate: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def copy_guide_images(artifacts_dir: Path, names: list[str], docs_img: Path) -> None:
    docs_img.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(artifacts_dir / "ui" / f"{name}.png", docs_img / f"{name}.png")
