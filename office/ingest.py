"""Office MQTT ingest: every station's state, status and events into the office database (docs/mqtt.md).

The broker is shared by every station of a district, so nothing a station sends is trusted: a message that is not
JSON, not the right schema, larger than 64 KB, or about another station than its topic says is counted, logged
and dropped — it never stops the ingest. Messages are checked on paho's network thread (cheap) and written in
batches by one worker thread, one transaction per batch, so a burst of retained statuses after a broker restart
costs a few commits, not hundreds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from office import db as office_db
from office import telemetry_db as tdb
from station.commands import sign_command
from station.telemetry_status import STATUS_SCHEMA

log = logging.getLogger(__name__)

SUBSCRIPTION = "jemput/v1/+/+/#"
MAX_PAYLOAD_BYTES = 64 * 1024
_TOPIC_RE = re.compile(r"jemput/v1/(\d{4})/([a-z0-9][a-z0-9-]{0,62})/(state|status|event|reply/[A-Za-z0-9_-]+|cmd/.+)")
_BATCH = 2000
_GATHER_S = 0.010
"""Group commit: after the first message the writer sleeps 10 ms, then takes everything queued as one transaction
(one fsync). While that commit runs, the next messages queue up and become the next batch, so the batch size
follows the load by itself: one message costs one fsync when the office is quiet, a burst costs a few. The writer
never waits on the queue per message: each wake-up would take the GIL from the MQTT thread."""
_REGISTRY_TTL_S = 30.0
"""How long a station's registered district is cached (a re-registration is seen within this)."""


class Rejected(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Message:
    kind: str
    district: str
    station: str
    body: Any
    received_at: datetime
    raw: str = ""
    """The payload as received (stored as-is for statuses: no second JSON encoding)."""
    retained: bool = False
    """Delivered from the broker's retained store (an old copy, e.g. after the office reconnects)."""


def parse_message(topic: str, payload: bytes, *, now: datetime | None = None) -> Message | None:
    """Validate one MQTT message; ``None`` for ones we ignore on purpose (our own commands, cleared retains)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected("oversized", f"{len(payload)} bytes on {topic} (limit {MAX_PAYLOAD_BYTES})")
    match = _TOPIC_RE.fullmatch(topic)
    if match is None:
        raise Rejected("bad_topic", f"unexpected topic {topic!r}")
    district, station, kind = match.groups()
    if kind.startswith("cmd/") or not payload:
        return None
    now = now or datetime.now(UTC)
    if kind == "state":
        text = payload.decode("utf-8", "replace")
        if text not in ("online", "offline"):
            raise Rejected("bad_state", f"state must be online/offline, got {text[:40]!r}")
        return Message("state", district, station, text, now)
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("bad_json", f"payload on {topic} is not JSON") from None
    if not isinstance(body, dict):
        raise Rejected("bad_schema", f"payload on {topic} is not a JSON object")
    if kind == "status":
        _check_status(body, district, station)
    elif kind == "event":
        _check_fields(body, {"type": str, "severity": str, "ts": str, "detail": dict}, topic)
    else:
        _check_fields(body, {"id": str, "ok": bool}, topic)
        kind = "reply"
    return Message(kind, district, station, body, now, payload.decode("utf-8"))


def _check_fields(body: dict[str, Any], fields: dict[str, type], topic: str) -> None:
    for name, kind in fields.items():
        if not isinstance(body.get(name), kind):
            raise Rejected("bad_schema", f"{topic}: '{name}' missing or not {kind.__name__}")


def _check_status(body: dict[str, Any], district: str, station: str) -> None:
    if body.get("schema") != STATUS_SCHEMA:
        raise Rejected("bad_schema", f"status schema {body.get('schema')!r} is not {STATUS_SCHEMA}")
    if body.get("station") != station or body.get("district") != district:
        raise Rejected("wrong_station", f"status for {body.get('district')}/{body.get('station')} arrived on the "
                                        f"topic of {district}/{station}")
    _check_fields(body, {"ts": str, "power": dict, "queue": dict, "devices": dict, "storage": dict}, station)


class Ingest:
    """Subscribes to every station's topics and keeps the telemetry tables current."""

    def __init__(self, office_config: Any, engine: sa.Engine, *, client_id: str | None = None,
                 queue_size: int = 20000) -> None:
        self._mqtt = office_config.mqtt
        self.engine = engine
        tdb.create_telemetry_tables(engine)
        self._client_id = client_id or f"jemput-office-ingest-{os.getpid()}"
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        self._worker: threading.Thread | None = None
        self.stats: Counter[str] = Counter()
        """received, stored, ignored, rejected, rejected:<reason>, overflow, connects."""
        self._writer = tdb.TelemetryWriter(engine)
        self._registered: dict[str, tuple[str | None, float]] = {}
        """station -> (district in the ``stations`` table or None, monotonic time looked up)."""
        self._first_status_district: dict[str, str] = {}
        """Unregistered stations: the district of their first accepted status."""
        self._district = getattr(getattr(office_config, "office", None), "district", None)
        self._listeners: list[Any] = []
        self._warned_unknown: dict[str, float] = {}

    def add_listener(self, callback: Any) -> None:
        """``callback(batch)`` after each batch is committed (the dashboard's live streams and alert rules);
        runs on the writer thread, so it must be quick; an exception in it is logged, never stops the ingest."""
        self._listeners.append(callback)

    def start(self) -> None:
        if self._worker is not None:
            return
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=mqtt.MQTTv5)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        if getattr(self._mqtt, "tls", False):
            client.tls_set(ca_certs=_opt(self._mqtt.ca), certfile=_opt(self._mqtt.cert), keyfile=_opt(self._mqtt.key))
        if getattr(self._mqtt, "username", ""):
            client.username_pw_set(self._mqtt.username, getattr(self._mqtt, "password", "") or None)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *_a: self._connected.clear()
        client.on_message = self._on_message
        self._client = client
        self._worker = threading.Thread(target=self._run, name="jemput-ingest", daemon=True)
        self._worker.start()
        client.connect_async(self._mqtt.host, self._mqtt.port, keepalive=getattr(self._mqtt, "keepalive", 30))
        client.loop_start()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._worker is None:
            return
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self._stop.set()
        self._queue.put(None)
        self._worker.join(timeout_s)
        self._worker = None

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def send_command(self, district: str, station: str, name: str, args: dict[str, Any] | None, *,
                     office_key: Any, lifetime_s: int = 300) -> str:
        """Sign and publish a command (QoS 1); the reply lands in ``telemetry_reply``. Returns the command id."""
        command = sign_command(name, args, office_key=office_key, lifetime_s=lifetime_s)
        self.publish_command(district, station, name, command)
        return command["id"]

    def publish_command(self, district: str, station: str, name: str, command: dict[str, Any]) -> None:
        """Publish an already signed command (QoS 1) into the station's persistent session: queued while it is away,
        dropped by the broker once the command has expired. Raises when there is no broker client."""
        if self._client is None:
            raise RuntimeError("ingest not started")
        expires = datetime.fromisoformat(str(command["expires"]).replace("Z", "+00:00"))
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, int((expires - datetime.now(UTC)).total_seconds()))
        info = self._client.publish(f"jemput/v1/{district}/{station}/cmd/{name}", json.dumps(command), qos=1,
                                    properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            raise RuntimeError(f"could not publish the command: {mqtt.error_string(info.rc)}")

    # -- paho thread ---------------------------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the office ingest: %s", reason)
            return
        client.subscribe(SUBSCRIPTION, qos=1)   # again on every reconnect: the broker may have lost the session
        self.stats["connects"] += 1
        self._connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.stats["received"] += 1
        try:
            message = parse_message(msg.topic, msg.payload)
        except Rejected as exc:
            self.stats["rejected"] += 1
            self.stats["rejected:" + exc.reason] += 1
            log.warning("dropped MQTT message: %s", exc)
            return
        if message is None:
            self.stats["ignored"] += 1
            return
        if message.kind == "status" and msg.retain:
            message = dataclasses.replace(message, retained=True)
        try:
            self._check_district(message)
            if self._district and message.district != self._district:
                raise Rejected("other_district", f"{message.kind} from {message.station} is for district "
                                                 f"{message.district}; this office serves {self._district}")
        except Rejected as exc:
            self.stats["rejected"] += 1
            self.stats["rejected:" + exc.reason] += 1
            log.warning("dropped MQTT message: %s", exc)
            return
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.stats["overflow"] += 1

    def _check_district(self, message: Message) -> None:
        """The broker ACL (``jemput/v1/+/%u/#``) lets a station publish under ANY district with its own id; only
        its registered district (or, unregistered, that of its first accepted status) is believed."""
        expected = self._registered_district(message.station)
        if expected is None:
            self.stats["unknown_station"] += 1
            last = self._warned_unknown.get(message.station, 0.0)
            if time.monotonic() - last > _REGISTRY_TTL_S:
                self._warned_unknown[message.station] = time.monotonic()
                log.warning("message from unregistered station %s (not shown on the dashboard)", message.station)
            expected = self._first_status_district.get(message.station)
            if expected is None and message.kind == "status":
                self._first_status_district[message.station] = message.district
                return
        if expected is not None and message.district != expected:
            raise Rejected("wrong_district", f"{message.kind} from {message.station} under district "
                                             f"{message.district}; the station belongs to {expected}")

    def _registered_district(self, station: str) -> str | None:
        cached = self._registered.get(station)
        if cached is not None and time.monotonic() - cached[1] < _REGISTRY_TTL_S:
            return cached[0]
        try:
            with self.engine.connect() as conn:
                district = conn.execute(sa.select(office_db.stations.c.district)
                                        .where(office_db.stations.c.id == station)).scalar()
        except sa.exc.SQLAlchemyError:    # no registry to ask (e.g. telemetry-only DB): fall back to first status
            log.warning("could not look up the district of station %s", station, exc_info=True)
            district = None
        self._registered[station] = (district, time.monotonic())
        return district

    # -- worker ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            time.sleep(_GATHER_S)    # let company arrive without being woken by each message (GIL hand-offs)
            while len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._stop.set()
                    break
                batch.append(item)
            try:
                self._store(batch)
            except sa.exc.SQLAlchemyError:
                self.stats["db_errors"] += 1
                log.exception("could not store %d telemetry messages", len(batch))
            else:
                self.stats["stored"] += len(batch)    # counted only once committed (durable)
                self._notify(batch)
            if self._stop.is_set() and self._queue.empty():
                return

    def _store(self, batch: list[Message]) -> None:
        self._writer.write(batch)

    def _notify(self, batch: list[Message]) -> None:
        for callback in self._listeners:
            try:
                callback(batch)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the ingest
                log.exception("ingest listener failed")


def _opt(path: Any) -> str | None:
    return str(path) if path else None


def latest_status(engine: sa.Engine, station: str) -> dict[str, Any] | None:
    """The dashboard's view of one station: state, when it changed, and the last status (or ``None``)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(tdb.station_status).where(tdb.station_status.c.station == station)).first()
    if row is None:
        return None
    return {"station": row.station, "district": row.district, "state": row.state,
            "state_changed_at": row.state_changed_at,
            "status": json.loads(row.status_json) if row.status_json else None}


@click.command("ingest")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="Office TOML config.")
def ingest_command(config_path: Path) -> None:
    """Run only the MQTT ingest (the receiver's `run` starts it too when [mqtt] host is set)."""
    from office.config import load_office_config
    from office.db import open_db

    config = load_office_config(config_path)
    if not config.mqtt.host:
        raise click.UsageError(f"{config_path}: [mqtt] host is empty; nothing to ingest")
    ingest = Ingest(config, open_db(config.database_url))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    ingest.start()
    click.echo(f"ingesting jemput/v1/# from {config.mqtt.host}:{config.mqtt.port}; Ctrl-C to stop")
    stop.wait()
    ingest.stop()
    click.echo(f"stopped: {dict(ingest.stats)}")
