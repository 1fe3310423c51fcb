"""Server-Sent Events: device status, power, sync progress, capture hints and pen ink, throttled.

One subscription per open page. Status-like topics are coalesced (only the latest per topic is sent, at most every
``STATUS_INTERVAL_S``); capture and pen topics pass through in small batches so ink looks live. A slow page only
loses its own oldest events (the bus drops them), never slows a capture.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, stream_with_context

from ui import kiosk
from ui.helpers import login_required
from ui.status import station_status

bp = Blueprint("events", __name__)

LIVE_PREFIXES = ("capture.", "pen.", "slip.")
STATUS_PREFIXES = ("device", "power", "sync", "outbox", "enrollment", "station")
STATUS_INTERVAL_S = 0.5
HEARTBEAT_S = 5.0
POLL_S = 0.05


def encode(topic: str, data: dict[str, Any]) -> str:
    return f"data: {json.dumps({'topic': topic, 'data': data}, default=str, separators=(',', ':'))}\n\n"


def event_stream(station: Any, stopping: Any, max_s: float | None = None, capture: Any = None) -> Iterator[str]:
    """Yield SSE text until the kiosk stops (or ``max_s`` passes: tests and the benchmark)."""
    started = time.monotonic()
    with station.bus.subscribe(*(LIVE_PREFIXES + STATUS_PREFIXES), maxsize=512) as sub:
        yield "retry: 1000\n\n"
        yield encode("status", station_status(station))
        for topic, data in capture.live_states() if capture is not None else ():
            yield encode(topic, data)
        pending: dict[tuple[str, str], dict[str, Any]] = {}  # latest per topic (and per packet: none is lost)
        last_flush = last_beat = time.monotonic()
        while not stopping.is_set() and (max_s is None or time.monotonic() - started < max_s):
            event = sub.get(timeout_s=POLL_S)
            now = time.monotonic()
            if event is not None:
                if event.topic.startswith(LIVE_PREFIXES):
                    yield encode(event.topic, event.data)
                else:
                    pending[(event.topic, str(event.data.get("packet_id", "")))] = event.data
            if pending and now - last_flush >= STATUS_INTERVAL_S:
                for (topic, _packet), data in pending.items():
                    yield encode(topic, data)
                yield encode("status", station_status(station))
                pending.clear()
                last_flush = last_beat = now
            elif now - last_beat >= HEARTBEAT_S:
                yield encode("status", station_status(station))
                last_beat = now


@bp.get("/api/events")
@login_required
def stream() -> Response:
    ctx = kiosk()
    max_s = current_app.config.get("JEMPUT_STREAM_MAX_S")
    return Response(
        stream_with_context(event_stream(ctx.station, ctx.stopping, max_s, ctx.capture)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
