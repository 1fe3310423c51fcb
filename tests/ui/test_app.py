"""The kiosk app without a browser (Flask's test client over a real station and store): security settings,
access control, the queue's honesty about errors and the "send now" button, the event stream, translations."""

from __future__ import annotations

import hashlib
import re
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from station.config import config_from_dict
from station.demo_data import seed_demo
from station.outbox import utc_now
from station.runtime import build_station, init_station
from tests.ui.conftest import free_port, station_config
from ui import create_app

UI = Path(__file__).resolve().parents[2] / "ui"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def plain_station(data_dir: Path) -> Any:
    """A station with no devices, no power policy and no uploader (what a bare `build_station` gives here)."""
    config = config_from_dict(station_config(data_dir))
    init_station(config)
    st = build_station(config, builders={})
    st.start()
    with st.db_lock:
        st.demo = seed_demo(st.conn, config.station.district)
    yield st
    st.stop()


@pytest.fixture
def client(plain_station: Any) -> Any:
    app = create_app(plain_station, testing=True)
    yield app.test_client()
    app.extensions["jemput"].capture.stop()


def log_in(client: Any, pin: str = "123456") -> Any:
    token = csrf_of(client.get("/login/demo").text)
    return client.post("/login/demo", data={"pin": pin, "csrf_token": token})


def test_post_without_csrf_token_is_refused(client: Any) -> None:
    resp = client.post("/login/demo", data={"pin": "123456"})
    assert resp.status_code == 400
    assert log_in(client).status_code == 302


def test_headers_cookie_and_secret_key(client: Any, plain_station: Any) -> None:
    resp = client.get("/login")
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    key_file = Path(plain_station.config.station.data_dir) / "keys" / "ui_secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = create_app(plain_station, testing=True)
    assert again.secret_key == key_file.read_bytes()  # the same key after a restart: sessions survive it
    again.extensions["jemput"].capture.stop()


def test_every_asset_is_local() -> None:
    for path in list((UI / "templates").rglob("*.html")) + list((UI / "static").rglob("*.*")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), f"{path.name} loads from elsewhere"
        assert "<script>" not in text.replace('<script type="application/json"', ""), f"inline script in {path.name}"


def test_pages_need_a_logged_in_operator(client: Any) -> None:
    for path in ("/", "/search", "/queue", "/report", "/session/open"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.location.endswith("/login"), path
    assert client.get("/api/events").status_code == 401
    assert client.get("/camera/x.mjpg").status_code == 401
    assert client.get("/sim").status_code == 404  # no simulator without --simulate


def test_logout_is_audited(client: Any, plain_station: Any) -> None:
    log_in(client)
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    with plain_station.db_lock:
        actions = [r[0] for r in plain_station.conn.execute("SELECT action FROM audit_log")]
    assert "login_ok" in actions and "operator.logout" in actions


def add_packet(station: Any, nik: str) -> str:
    packet_id = "0192f0c0-0000-7000-8000-000000000001"
    data = b"not really a packet"
    path = station.outbox.path_for(packet_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with station.db_lock:
        station.conn.execute("BEGIN")
        station.outbox.insert_sealed(station.conn, packet_id=packet_id, nik=nik, session_id=None,
                                     size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                     created_at=utc_now())
        station.conn.execute("COMMIT")
    return packet_id


def test_queue_shows_each_records_last_error_and_send_now_only_with_an_uploader(client: Any,
                                                                                   plain_station: Any) -> None:
    log_in(client)
    packet_id = add_packet(plain_station, plain_station.demo.sample_niks[0])
    plain_station.outbox.record_failure(packet_id, "office unreachable: connection refused")
    html = client.get("/queue").text
    assert f'data-packet="{packet_id}"' in html
    assert "office unreachable: connection refused" in html and "Galat terakhir" in html
    assert 'id="sync-now"' not in html  # no uploader: no button that does nothing
    plain_station.outbox.mark_rejected(packet_id, "signature does not verify")
    html = client.get("/queue").text
    assert "Ditolak kantor" in html and "signature does not verify" in html and "1 ditolak kantor" in html
    assert 'id="h-rejected"' in client.get("/").text
    assert client.post("/queue/sync", data={"csrf_token": csrf_of(html)}).status_code == 404


def test_send_now_wakes_the_real_uploader_and_its_failure_shows(data_dir: Path) -> None:
    from station.keys import generate_signing_key, public_key_b64

    raw = station_config(data_dir)
    raw["office"].update(url=f"http://127.0.0.1:{free_port()}", token="t",
                         verify_key=public_key_b64(generate_signing_key()))
    config = config_from_dict(raw)
    init_station(config)
    st = build_station(config, builders={"uploader": __import__("station.runtime").runtime.PART_BUILDERS["uploader"]})
    st.start()
    try:
        with st.db_lock:
            st.demo = seed_demo(st.conn, "6106")
        app = create_app(st, testing=True)
        client = app.test_client()
        log_in(client)
        packet_id = add_packet(st, st.demo.sample_niks[0])
        html = client.get("/queue").text
        assert 'id="sync-now"' in html
        assert client.post("/queue/sync", data={"csrf_token": csrf_of(html)}).status_code == 302
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not st.outbox.get(packet_id).last_error:
            time.sleep(0.1)
        item = st.outbox.get(packet_id)
        assert item.last_error, "the failed upload must say why"
        assert item.last_error[:20] in client.get("/queue").text
        app.extensions["jemput"].capture.stop()
    finally:
        st.stop()


def test_event_stream_sends_status_then_live_events(plain_station: Any) -> None:
    app = create_app(plain_station, testing=True)
    app.config["JEMPUT_STREAM_MAX_S"] = 1.0
    client = app.test_client()
    log_in(client)

    def later() -> None:
        time.sleep(0.3)
        plain_station.bus.publish("pen.points", draft_id="d1", points=[[0.5, 0.5, 1]])

    threading.Thread(target=later).start()
    body = client.get("/api/events").get_data(as_text=True)
    assert body.index('"topic":"status"') < body.index('"topic":"pen.points"')
    assert '"points":[[0.5,0.5,1]]' in body
    app.extensions["jemput"].capture.stop()


def test_translations_are_complete_and_compiled() -> None:
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    from ui.translations.update import extract, po_path

    ids = {m.id for m in extract() if m.id}
    catalog = read_po(po_path("id").open("rb"), locale="id")
    missing = sorted(i for i in ids if not (catalog.get(i) and catalog.get(i).string))
    assert not missing, f"run `python -m ui.translations.update` and translate: {missing[:5]}"
    compiled = read_mo(po_path("id").with_suffix(".mo").open("rb"))
    stale = sorted(i for i in ids if not compiled.get(i) or compiled.get(i).string != catalog.get(i).string)
    assert not stale, f"id .mo is stale, run `python -m ui.translations.update`: {stale[:5]}"


def test_demo_seed_only_on_an_empty_store(plain_station: Any) -> None:
    from station.nik import parse_nik
    from station.roster import find_by_nik

    assert plain_station.demo is not None and plain_station.demo.residents == 24
    with plain_station.db_lock:
        assert seed_demo(plain_station.conn, "6106") is None
        for nik in plain_station.demo.sample_niks:
            parse_nik(nik)
            assert find_by_nik(plain_station.conn, nik).kode_desa in plain_station.demo.villages
