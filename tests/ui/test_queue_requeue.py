"""Rejected records go back to the queue by an operator action (PIN) on the kiosk, or by the office's ``requeue``
command; never by anyone else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from station.config import config_from_dict
from station.demo_data import seed_demo
from station.runtime import build_station, init_station
from tests.ui.conftest import station_config
from tests.ui.test_app import add_packet, csrf_of, log_in
from ui import create_app


@pytest.fixture
def plain_station(data_dir: Path) -> Any:
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


def test_the_queue_page_sends_a_rejected_record_again_with_the_operators_pin(client: Any,
                                                                            plain_station: Any) -> None:
    log_in(client)
    packet_id = add_packet(plain_station, plain_station.demo.sample_niks[0])
    plain_station.outbox.mark_rejected(packet_id, "signature does not verify")
    html = client.get("/queue").text
    assert f'href="/queue/requeue/{packet_id}"' in html
    confirm = client.get(f"/queue/requeue/{packet_id}").text
    assert re.search(r'<form method="post" action="/queue/requeue"', confirm) and 'data-target="pin"' in confirm
    token = csrf_of(html)
    wrong = client.post("/queue/requeue", data={"csrf_token": token, "packet_id": packet_id, "pin": "000000"})
    assert wrong.status_code == 302 and plain_station.outbox.get(packet_id).rejected
    assert "PIN" in client.get("/queue").text
    right = client.post("/queue/requeue", data={"csrf_token": token, "packet_id": packet_id, "pin": "123456"})
    assert right.status_code == 302
    item = plain_station.outbox.get(packet_id)
    assert not item.rejected and [i.packet_id for i in plain_station.outbox.pending()] == [packet_id]
    with plain_station.db_lock:
        actions = [r[0] for r in plain_station.conn.execute("SELECT action FROM audit_log")]
    assert "queue.requeue" in actions
    # not rejected any more: a second requeue has nothing to do
    assert client.post("/queue/requeue", data={"csrf_token": token, "packet_id": packet_id,
                                               "pin": "123456"}).status_code == 404


def test_requeue_needs_a_logged_in_operator(client: Any, plain_station: Any) -> None:
    packet_id = add_packet(plain_station, plain_station.demo.sample_niks[0])
    plain_station.outbox.mark_rejected(packet_id, "signature does not verify")
    token = csrf_of(client.get("/login").text)
    resp = client.post("/queue/requeue", data={"csrf_token": token, "packet_id": packet_id, "pin": "123456"})
    assert resp.status_code in (302, 401, 403) and plain_station.outbox.get(packet_id).rejected


def test_the_office_requeue_command(plain_station: Any) -> None:
    packet_id = add_packet(plain_station, plain_station.demo.sample_niks[0])
    plain_station.outbox.mark_rejected(packet_id, "signature does not verify")
    assert plain_station.handle_command("requeue", {"all_rejected": True}) == {"requeued": [packet_id]}
    assert plain_station.outbox.rejected() == [] and len(plain_station.outbox.pending()) == 1
    plain_station.outbox.mark_rejected(packet_id, "again")
    assert plain_station.handle_command("requeue", {"packet_id": packet_id}) == {"requeued": [packet_id]}
    with pytest.raises(ValueError, match="requeue needs"):
        plain_station.handle_command("requeue", {})
    from station.outbox import OutboxError

    with pytest.raises(OutboxError):
        plain_station.handle_command("requeue", {"packet_id": packet_id})     # pending, not rejected


@pytest.mark.browser
def test_the_requeue_form_on_the_kiosk_queue_page(kiosk: Any, station: Any, page: Any, shots: Any) -> None:
    from playwright.sync_api import expect

    from tests.ui.kiosk_steps import login

    packet_id = add_packet(station, station.demo.sample_niks[0])
    station.outbox.mark_rejected(packet_id, "signature does not verify (wrong station key, or envelope altered)")
    login(page, kiosk.url)
    page.goto(kiosk.url + "/queue")
    row = page.locator(f"tr[data-packet='{packet_id}']")
    shots(page, "45-queue-rejected")
    row.locator("a.requeue").click()
    page.wait_for_url(f"**/queue/requeue/{packet_id}")
    shots(page, "46-queue-requeue-pin")
    for digit in "123456":                                # the form sends itself after the sixth digit
        page.locator(f".keypad [data-key='{digit}']").click()
    page.wait_for_url(kiosk.url + "/queue")
    expect(page.locator(".flash")).to_be_visible()
    assert not station.outbox.get(packet_id).rejected
    shots(page, "47-queue-requeued")
