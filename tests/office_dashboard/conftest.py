"""Fixtures for the office dashboard tests: an office app over a temporary database (unit tier), and headless
Chromium through Playwright at the office's sizes (1280x800 PC, 360x740 phone)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def office_app(tmp_path: Path) -> Iterator[Any]:
    """The office app (receiver + dashboard) over SQLite in ``tmp_path``, with an admin, a viewer, one station."""
    from office import stations, users
    from office.config import office_config_from_dict
    from office.db import open_db
    from office.keys import init_office_keys
    from office.web import create_office_app
    from station import keys

    config = office_config_from_dict({"office": {"district": "6106", "data_dir": str(tmp_path / "office")},
                                      "dashboard": {"max_failed_logins": 3, "idle_logout_s": 60}})
    office_keys = init_office_keys(config.keys_dir)
    engine = open_db(config.database_url)
    app = create_office_app(config, engine, office_keys, testing=True)
    users.add_user(engine, "kepala", "admin-pass-123", "admin")
    users.add_user(engine, "staf", "viewer-pass-123", "viewer")
    stations.register_station(engine, "kph-01", keys.public_key_b64(keys.generate_signing_key()), "6106")
    app.engine = engine
    yield app
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: one sync Playwright at a time per process, so it is gone before tests/ui start theirs."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def office_shots(artifacts_dir: Path) -> Callable[[Any, str], Path]:
    """``office_shots(page, "stations-pc")`` saves ``tests/artifacts/office/stations-pc.png``."""
    folder = artifacts_dir / "office"
    folder.mkdir(parents=True, exist_ok=True)

    def take(pg: Any, name: str, full_page: bool = False) -> Path:
        path = folder / f"{name}.png"
        pg.screenshot(path=str(path), full_page=full_page)
        return path

    return take
