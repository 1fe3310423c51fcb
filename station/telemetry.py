"""MQTT status relay: the station tells the office how it is, and takes signed commands (DESIGN §7, docs/mqtt.md).

Nothing here may slow the kiosk: callers only drop work into memory (``publish_event``, bus events) and a worker
thread plus paho's network thread do the talking. While the link is down the relay keeps just the latest status
and a bounded backlog of events (oldest dropped and counted in an ``events_dropped`` event), so a week in a
village without signal costs a few kilobytes, not a flood when the station comes back.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from station.commands import CommandName, CommandRejected, CommandVerifier
from station.config import Config
from station.events import EventBus
from station.telemetry_status import build_status, derive_events, iso_utc, significant_change

log = logging.getLogger(__name__)

BUS_PREFIXES = ("power.", "device.", "outbox.", "sync.", "enrollment.finished", "station.locked")
DISK_LOW_MB = 500
MQTT_PASSWORD_FILE = "mqtt-password"
SESSION_EXPIRY_S = 3600
"""The broker keeps our session (subscription + queued QoS 1 commands) this long after we drop: longer than any
command lives (``station.commands.MAX_LIFETIME_S``), so a command sent while we are away arrives if we come back
in time (DESIGN §7)."""
_TICK_S = 0.25
_MIN_CHECK_S = 0.5
"""Bus bursts (20 packets acknowledged in a row) are coalesced into one snapshot per this many seconds."""

CommandHandler = Callable[[str, dict[str, Any]], dict[str, Any] | None]


class LinkState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"


def session_properties() -> Properties:
    """MQTT 5 CONNECT properties for a persistent session (used with ``clean_start=False``)."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    return props


def topic_prefix(district: str, station: str) -> str:
    return f"jemput/v1/{district}/{station}/"


def _verify_key(value: Ed25519PublicKey | str | None) -> Ed25519PublicKey | None:
    if value is None or isinstance(value, Ed25519PublicKey):
        return value
    if not value:
        return None
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(value))


class Telemetry:
    """One station's MQTT link. ``start()`` returns at once; the broker may be down for days."""

    def __init__(self, config: Config, *, station_snapshot: Callable[[], dict[str, Any]], bus: EventBus | None,
                 office_verify_key: Ed25519PublicKey | str | None, on_command: CommandHandler | None,
                 username: str | None = None, password: str | None = None, event_backlog: int = 100,
                 seen_commands_path: Path | None = None) -> None:
        self.config = config
        self._mqtt = config.mqtt
        self.prefix = topic_prefix(config.station.district, config.station.id)
        self._snapshot = station_snapshot
        self._bus = bus
        self._on_command = on_command
        self._username, self._password = username, password
        self._verifier = CommandVerifier(_verify_key(office_verify_key), seen_path=seen_commands_path)
        self._events: deque[dict[str, Any]] = deque(maxlen=event_backlog)
        self._lock = threading.Lock()
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._ready = threading.Event()
        """Connected and subscribed to our commands."""
        self._pending_status: dict[str, Any] | None = None
        self._last_sent: dict[str, Any] | None = None
        self._last_built: dict[str, Any] | None = None
        self._next_periodic = 0.0
        self._check_requested = True
        self._last_check = 0.0
        self.state = LinkState.STOPPED
        self.stats = {"status_published": 0, "events_published": 0, "events_dropped": 0, "connects": 0,
                      "commands_accepted": 0, "commands_refused": 0}
        self._dropped_unreported = 0
        self.refused: deque[tuple[str | None, str]] = deque(maxlen=50)
        """Recent refused commands as (id, reason), for the UI and tests."""
        self._client: mqtt.Client | None = None
        self._worker: threading.Thread | None = None
        self._sub = None

    # -- public ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._worker is not None:
            return
        self._client = self._make_client()
        if self._bus is not None:
            self._sub = self._bus.subscribe(*BUS_PREFIXES, maxsize=512)
        self.state = LinkState.CONNECTING
        self._client.connect_async(self._mqtt.host, self._mqtt.port, keepalive=self._mqtt.keepalive,
                                   clean_start=False, properties=session_properties())
        self._client.loop_start()
        self._worker = threading.Thread(target=self._run, name="jemput-telemetry", daemon=True)
        self._worker.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Say ``offline`` (retained) if connected, then disconnect; bounded by ``timeout_s``."""
        if self._worker is None:
            return
        self._stop.set()
        self._inbox.put(("wake", None))
        self._worker.join(timeout_s)
        client = self._client
        if client is not None:
            if self._connected.is_set():
                info = client.publish(self.prefix + "state", "offline", qos=1, retain=True)
                try:
                    info.wait_for_publish(timeout=timeout_s)
                except (RuntimeError, ValueError):
                    pass
            client.disconnect()
            client.loop_stop()
        if self._sub is not None:
            self._sub.close()
        self._worker = None
        self.state = LinkState.STOPPED

    def publish_event(self, type: str, severity: str, detail: dict[str, Any] | None = None) -> None:
        """Queue an event; sent at once when online, kept (bounded) when not. Never blocks."""
        event = {"type": type, "severity": severity, "ts": iso_utc(datetime.now(UTC)), "detail": detail or {}}
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self._dropped_unreported += 1
                self.stats["events_dropped"] += 1
            self._events.append(event)
        self._inbox.put(("wake", None))

    def request_status(self) -> None:
        """Send a fresh status soon (e.g. after the operator locks the station)."""
        self._check_requested = True
        self._next_periodic = 0.0
        self._inbox.put(("wake", None))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until online and listening for commands."""
        return self._ready.wait(timeout_s)

    # -- paho callbacks (network thread) ---------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.config.station.id,
                             protocol=mqtt.MQTTv5)
        client.will_set(self.prefix + "state", "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(200)
        if self._mqtt.tls:
            client.tls_set(ca_certs=str(self._mqtt.ca) if self._mqtt.ca else None,
                           certfile=str(self._mqtt.cert) if self._mqtt.cert else None,
                           keyfile=str(self._mqtt.key) if self._mqtt.key else None)
        password = self._password if self._password is not None else self._password_from_file()
        if password is not None:
            client.username_pw_set(self._username or self.config.station.id, password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_a: self._ready.set()
        return client

    def _password_from_file(self) -> str | None:
        """Plain-TCP brokers (no client certificates) take a password from ``<data_dir>/keys/mqtt-password``."""
        path = self.config.station.data_dir / "keys" / MQTT_PASSWORD_FILE
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:
            return None

    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused connection: %s", reason)
            return
        client.publish(self.prefix + "state", "online", qos=1, retain=True)
        client.subscribe(self.prefix + "cmd/#", qos=1)
        self.stats["connects"] += 1
        self.state = LinkState.ONLINE
        self._connected.set()
        with self._lock:
            if self._pending_status is None and self._last_sent is not None:
                self._pending_status = self._last_sent    # the broker may have lost the retained copy
        self.request_status()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._connected.clear()
        self._ready.clear()
        if not self._stop.is_set():
            self.state = LinkState.OFFLINE
            log.info("MQTT link lost (%s); retrying with backoff", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(("cmd", (msg.topic, msg.payload)))

    # -- worker ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                kind, item = self._inbox.get(timeout=_TICK_S)
            except queue.Empty:
                kind, item = "tick", None
            try:
                if kind == "cmd":
                    self._handle_command(*item)
                self._drain_bus()
                self._refresh_status()
                if self._connected.is_set():
                    self._flush()
            except Exception:  # the relay must outlive any single bad snapshot or handler
                log.exception("telemetry worker error")

    def _drain_bus(self) -> None:
        while self._sub is not None:
            event = self._sub.get(timeout_s=0)
            if event is None:
                return
            self._check_requested = True
            if event.topic in ("sync.failed", "sync.rejected"):
                detail = {k: v for k, v in event.data.items() if isinstance(v, str | int | float | bool | None)}
                # A rejected packet will not go through by retrying: the office has to look at it.
                kind, severity = (("packet_rejected", "error") if event.topic == "sync.rejected"
                                  else ("sync_failed", "warning"))
                self.publish_event(kind, severity, detail)

    def _refresh_status(self) -> None:
        now = time.monotonic()
        periodic = now >= self._next_periodic
        if not (periodic or (self._check_requested and now - self._last_check >= _MIN_CHECK_S)):
            return
        self._check_requested = False
        self._last_check = now
        try:
            snapshot = self._snapshot()
        except Exception as exc:  # a busy database must not silence the relay: keep the last status, retry soon
            log.warning("station snapshot failed (%s); retrying in 10 s", exc)
            self._next_periodic = now + min(10.0, self._mqtt.status_interval_s)
            return
        status = build_status(snapshot, station=self.config.station.id,
                              district=self.config.station.district, data_dir=self.config.station.data_dir)
        for type_, severity, detail in derive_events(self._last_built, status,
                                                      warn_percent=self.config.power.warn_percent,
                                                      disk_low_mb=DISK_LOW_MB):
            self.publish_event(type_, severity, detail)
        self._last_built = status
        if periodic or significant_change(self._last_sent, status):
            with self._lock:
                self._pending_status = status
            self._last_sent = status
            self._next_periodic = now + self._mqtt.status_interval_s

    def _flush(self) -> None:
        client = self._client
        assert client is not None
        with self._lock:
            if self._dropped_unreported:
                notice = {"type": "events_dropped", "severity": "warning", "ts": iso_utc(datetime.now(UTC)),
                          "detail": {"count": self._dropped_unreported}}
                info = client.publish(self.prefix + "event", json.dumps(notice), qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return
                self._dropped_unreported = 0
            while self._events:
                info = client.publish(self.prefix + "event", json.dumps(self._events[0]), qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return
                self._events.popleft()
                self.stats["events_published"] += 1
            status = self._pending_status
            if status is not None:
                info = client.publish(self.prefix + "status", json.dumps(status), qos=1, retain=True)
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._pending_status = None
                    self.stats["status_published"] += 1

    # -- commands ------------------------------------------------------------------------------------------------
    def _handle_command(self, topic: str, payload: bytes) -> None:
        name = topic[len(self.prefix + "cmd/"):]
        try:
            command = self._verifier.verify(payload, topic_name=name)
        except CommandRejected as exc:
            self.stats["commands_refused"] += 1
            self.refused.append((exc.command_id, exc.reason))
            log.warning("refused command on %s (id %s): %s", topic, exc.command_id, exc)
            self._reply(exc.command_id or "invalid", {"ok": False, "error": exc.reason, "message": str(exc)})
            return
        self.stats["commands_accepted"] += 1
        log.info("command %s (%s) accepted", command.name, command.id)
        if command.name == CommandName.REPORT:
            self.request_status()
        try:
            result = self._on_command(command.name, command.args) if self._on_command else None
        except Exception as exc:  # a failing handler is reported to the office, not raised into the relay
            log.exception("command handler failed for %s", command.name)
            self._reply(command.id, {"ok": False, "error": "handler_failed", "message": str(exc)})
            return
        self._reply(command.id, {"ok": True, "result": result or {}})

    def _reply(self, command_id: str, body: dict[str, Any]) -> None:
        body = {"id": command_id, "ts": iso_utc(datetime.now(UTC)), **body}
        if self._client is not None:
            self._client.publish(self.prefix + "reply/" + command_id, json.dumps(body), qos=1)
