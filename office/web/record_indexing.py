"""Keeps the records index current while the office runs: swept at start, woken by every stored packet.

The indexer opens manifests with the records identity (DESIGN §5) and stops with the dashboard
(``OfficeContext.stopping``). After a round that indexed something, the live stream tells pages that alerts may
have changed (a duplicate NIK raises one).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

from office.record_index import RecordIndexer


def init_app(app: Flask) -> None:
    ctx = app.extensions["jemput_office"]
    identity = ctx.keys.age_identity
    if not identity:
        app.logger.warning("no records identity loaded: received records will not be counted")
        return
    offset = datetime.now(UTC).astimezone(_zone(ctx.config.dashboard.timezone)).utcoffset()
    indexer = RecordIndexer(ctx.engine, identity, day_offset=offset, stop_event=ctx.stopping)
    indexer.listeners.append(lambda _count: ctx.live.publish(set(), alerts=True))
    app.extensions["jemput_record_indexer"] = indexer
    receiver = app.extensions.get("jemput_receiver")
    if receiver is not None:
        receiver.on_stored.append(indexer.wake)
    indexer.start()


def _zone(name: str):
    import zoneinfo

    return zoneinfo.ZoneInfo(name)
