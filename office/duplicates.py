"""The duplicates alert: a NIK received more than once is raised on the station that sent the later record.

The centre flags a second recording of a NIK as DUPLICATE_RECORD and blocks the card, so the office wants to know
first. One open alert per station carries the count and the latest NIK; the list with both records is on the
Rekaman page (``office.record_list.duplicate_niks``). Written in the records index's transaction, so a duplicate
is never counted without its alert.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from office.alerts import SEVERITY, Rule, alerts_table


def raise_duplicate(conn: sa.Connection, *, station: str, nik: str, packet_id: str, earlier: str,
                    at: datetime) -> None:
    open_row = conn.execute(sa.select(alerts_table.c.id, alerts_table.c.detail_json).where(
        alerts_table.c.station == station, alerts_table.c.rule == Rule.DUPLICATE_NIK.value,
        alerts_table.c.cleared_at.is_(None))).first()
    detail = {"nik": nik, "packet_id": packet_id, "earlier_packet_id": earlier}
    if open_row is None:
        conn.execute(alerts_table.insert().values(station=station, rule=Rule.DUPLICATE_NIK.value,
                                                  severity=SEVERITY[Rule.DUPLICATE_NIK], raised_at=at,
                                                  detail_json=json.dumps(detail | {"count": 1})))
        return
    old = json.loads(open_row.detail_json or "{}")
    conn.execute(alerts_table.update().where(alerts_table.c.id == open_row.id).values(
        detail_json=json.dumps(detail | {"count": int(old.get("count", 1)) + 1}), acked_at=None, acked_by=None))
