"""Kiosk request defences: DNS rebinding (foreign Host), cross-origin POSTs, and the simulator behind a log-in or
the simulate-only token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from station.config import config_from_dict
from station.demo_data import seed_demo
from station.runtime import build_station, init_station
from tests.ui.conftest import fast_builders, station_config
from tests.ui.test_app import csrf_of
from ui import create_app
from ui.defences import SIM_TOKEN_KEY, host_name


@pytest.fixture
def sim_app(data_dir: Path) -> Any:
    config = config_from_dict(station_config(data_dir))
    init_station(config)
    st = build_station(config, simulate=True, builders=fast_builders())
    st.start()
    with st.db_lock:
        seed_demo(st.conn, config.station.district)
    app = create_app(st, testing=True)
    yield app
    app.extensions["jemput"].capture.stop()
    st.stop()


def test_host_names(sim_app: Any) -> None:
    assert host_name("127.0.0.1:8080") == "127.0.0.1" and host_name("[::1]:80") == "::1"
    client = sim_app.test_client()
    assert client.get("/login", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    assert client.get("/login", headers={"Host": "localhost"}).status_code == 200
    for evil in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "kiosk.local"):
        assert client.get("/login", headers={"Host": evil}).status_code == 400, evil


def test_a_login_post_from_another_origin_is_refused(sim_app: Any) -> None:
    client = sim_app.test_client()
    token = csrf_of(client.get("/login/demo").text)
    form = {"pin": "123456", "csrf_token": token}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"},
                    {"Referer": "http://evil.example/phish.html"}, {"Origin": "http://localhost:9999"}):
        resp = client.post("/login/demo", data=form, headers=headers)
        assert resp.status_code == 403, headers
        assert client.get("/").status_code == 302                          # still logged out
    # what Chromium sends from our own page (no-referrer policy: Origin null, but same-origin fetch metadata)
    assert client.post("/login/demo", data=form, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
                       ).status_code == 302
    assert client.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    form["csrf_token"] = csrf_of(client.get("/login/demo").text)
    assert client.post("/login/demo", data=form, headers={"Origin": "http://localhost"}).status_code == 302
    assert client.get("/").status_code == 200


def test_the_simulator_needs_a_login_or_the_start_token(sim_app: Any) -> None:
    token = sim_app.extensions[SIM_TOKEN_KEY]
    assert token and len(token) >= 20
    client = sim_app.test_client()
    assert client.get("/sim").status_code == 403
    csrf = csrf_of(client.get("/login").text)
    assert client.post("/sim/cut_mains", data={"csrf_token": csrf}).status_code == 403
    assert client.get("/sim?token=wrong").status_code == 403
    assert client.get(f"/sim?token={token}").status_code == 200
    assert client.get("/sim").status_code == 200                        # remembered in the session
    other = sim_app.test_client()                      # a log-in works too
    form = {"pin": "123456", "csrf_token": csrf_of(other.get("/login/demo").text)}
    assert other.post("/login/demo", data=form).status_code == 302
    assert other.get("/sim").status_code == 200
