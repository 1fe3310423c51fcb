"""Sync progress reaches the open page without a reload: queue rows change state on sync.* events and the home
tiles follow the real uploader (here against an office address nobody listens on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from station.config import config_from_dict
from station.demo_data import seed_demo
from station.runtime import PART_BUILDERS, build_station, init_station
from tests.ui.conftest import free_port, station_config
from tests.ui.kiosk_steps import login
from tests.ui.test_report import add

pytestmark = [pytest.mark.browser]


@pytest.fixture
def uploading_station(data_dir: Path) -> Any:
    """A station with the real uploader pointed at a closed office port (every upload fails: the link is down)."""
    from station.keys import generate_signing_key, public_key_b64

    raw = station_config(data_dir)
    raw["office"].update(url=f"http://127.0.0.1:{free_port()}", token="t",
                         verify_key=public_key_b64(generate_signing_key()))
    config = config_from_dict(raw)
    init_station(config)
    st = build_station(config, builders={"uploader": PART_BUILDERS["uploader"]})
    st.start()
    with st.db_lock:
        st.demo = seed_demo(st.conn, "6106")
    yield st
    st.stop()


def test_queue_rows_and_home_tiles_update_live(uploading_station: Any, page: Any) -> None:
    from ui.server import KioskServer

    st = uploading_station
    server = KioskServer(st).start()
    try:
        base = server.url
        niks = st.demo.sample_niks
        login(page, base)
        expect(page.locator("#h-net")).to_have_text("–")               # nothing tried yet: unknown
        first, second = add(st, 1, niks[0]), add(st, 2, niks[1])
        page.goto(base + "/queue")
        row1, row2 = (page.locator(f'tr[data-packet="{p}"] [data-state]').first for p in (first, second))
        expect(row1).to_have_attribute("data-state", "sealed")
        st.bus.publish("sync.progress", packet_id=first, offset=50, size_bytes=100, bytes_per_s=10)
        expect(row1).to_have_attribute("data-state", "uploading")
        expect(row1).to_contain_text("Sedang dikirim 50%")
        st.outbox.acknowledge(first, {"packet_id": first})
        st.outbox.mark_rejected(second, "signature does not verify")
        st.bus.publish("sync.done", packet_id=first, already_received=False)
        st.bus.publish("sync.rejected", packet_id=second, reason="signature does not verify")  # same flush
        expect(row1).to_have_attribute("data-state", "acknowledged")
        expect(row1).to_have_text("Diterima kantor")
        expect(row2).to_have_attribute("data-state", "rejected")
        expect(page.locator(f'tr[data-packet="{second}"]')).to_contain_text("signature does not verify")

        third = add(st, 3, niks[2])
        page.goto(base + "/")
        expect(page.locator("#h-pending")).to_have_text("1")
        st.uploader.sync_now()                                          # the real uploader fails: link down
        expect(page.locator("#h-net")).to_have_text("Tidak terhubung")
        assert st.outbox.get(third).last_error
    finally:
        server.stop()
