"""The day's report: translated states (incl. refused by the office, with the reason), today's rows counted in SQL,
dates as DD-MM-YYYY."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from station.outbox import utc_now
from tests.ui.test_app import client, csrf_of, log_in, plain_station  # noqa: F401 - fixtures


def add(station: Any, n: int, nik: str, *, days_ago: int = 0) -> str:
    packet_id = f"0192f0c0-0000-7000-8000-{n:012d}"
    data = f"packet {n}".encode()
    path = station.outbox.path_for(packet_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with station.db_lock:
        station.conn.execute("BEGIN")
        station.outbox.insert_sealed(station.conn, packet_id=packet_id, nik=f"6106{n:012d}", session_id=None,
                                     size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                     created_at=utc_now() - timedelta(days=days_ago))
        station.conn.execute("COMMIT")
    return packet_id


def test_report_states_are_translated_and_refusals_show_the_reason(client: Any, plain_station: Any) -> None:  # noqa: F811
    log_in(client)
    niks = plain_station.demo.sample_niks
    acked, refused, _waiting = (add(plain_station, i, niks[i]) for i in range(3))
    plain_station.outbox.acknowledge(acked, {"packet_id": acked})
    plain_station.outbox.mark_rejected(refused, "signature does not verify")
    html = client.get("/report").text
    text = re.sub(r"<[^>]+>", " ", html)  # what the operator reads
    assert "acknowledged" not in text and "sealed" not in text
    assert "Diterima kantor" in html and "Menunggu" in html
    assert "Ditolak kantor" in html and "signature does not verify" in html
    assert html.count('data-state="rejected"') == 1 and html.count('data-state="sealed"') == 1
    client.post("/lang/en", data={"csrf_token": csrf_of(html), "next": "/report"})
    html_en = client.get("/report").text
    assert "Received by office" in html_en and "Refused by the office" in html_en


def test_report_counts_all_of_todays_rows_and_none_from_yesterday(client: Any, plain_station: Any) -> None:  # noqa: F811
    log_in(client)
    st, nik = plain_station, plain_station.demo.sample_niks[0]
    add(st, 9000, nik, days_ago=2)
    now = utc_now()
    with st.db_lock:  # a busy day: more rows than any page limit
        st.conn.execute("BEGIN")
        for n in range(1005):
            st.outbox.insert_sealed(st.conn, packet_id=f"0192f0c0-0000-7000-8001-{n:012d}", nik=f"6106{n:012d}",
                                    session_id=None, size_bytes=10, sha256="0" * 64,
                                    created_at=now - timedelta(microseconds=n))
        st.conn.execute("COMMIT")
    html = client.get("/report").text
    assert re.search(r'id="r-today">1005<', html), re.search(r'id="r-today">\d+<', html)
    assert re.search(r'id="r-pending">1006<', html)  # waiting to send counts every day
    assert "8000-000000009000" not in html


def test_dates_read_dd_mm_yyyy_in_indonesian(client: Any, plain_station: Any) -> None:  # noqa: F811
    from datetime import datetime

    from station.roster import find_by_nik

    log_in(client)
    nik = plain_station.demo.sample_niks[0]
    with plain_station.db_lock:
        born = find_by_nik(plain_station.conn, nik).tanggal_lahir
    today = datetime.now().astimezone().date()
    assert today.strftime("%d-%m-%Y") in client.get("/report").text
    found = client.get(f"/api/nik?nik={nik}").text
    assert born.strftime("%d-%m-%Y") in found and born.isoformat() not in found
    html = client.get("/report").text
    client.post("/lang/en", data={"csrf_token": csrf_of(html), "next": "/report"})
    assert today.isoformat() in client.get("/report").text
