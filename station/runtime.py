"""The station container: one object holding every service, built from the config, handed to each front end.

``build_station(config)`` opens the store, loads the station key and wires the outbox and the enrollment service.
The optional parts (``devices``, ``power``, ``uploader``, ``telemetry``) are filled in, in that order, by the
builder functions in ``PART_BUILDERS``, each ``(station, simulate) -> part | None``; the uploader only when
``office.url`` is set, telemetry only when ``mqtt.host`` is. Tests and tools pass ``builders=`` to choose.
``start()`` recovers the outbox, then starts the parts in order and a housekeeping thread that purges acknowledged
packets past ``retention_days``; ``stop()`` stops them in reverse.

Threads: one SQLite connection is shared by every thread and ``db_lock`` (an ``RLock``) serialises its use.
The outbox and the enrollment service take the lock themselves; anyone else calling a module-level function with
``station.conn`` (roster look-ups, operator log-in, sessions) wraps the call in ``with station.db_lock:``.
One connection keeps ``BEGIN IMMEDIATE`` transactions from fighting for the WAL write lock; the lock is held
only for database work and the milliseconds of sealing, never while waiting on a device.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from station import keys, sessions, store
from station.audit import append_audit
from station.config import Config
from station.enrollment import EnrollmentService
from station.errors import ConfigError
from station.events import EventBus
from station.outbox import Outbox, RecoveryReport, utc_now

log = logging.getLogger(__name__)

OPTIONAL_PARTS = ("devices", "power", "uploader", "telemetry")
"""Start order; stop runs in reverse (telemetry reports the others, so it goes last and stops first)."""


def software_version() -> str:
    try:
        return version("jemput")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class Station:
    config: Config
    conn: sqlite3.Connection
    db_lock: threading.RLock
    bus: EventBus
    signing_key: Any
    outbox: Outbox
    enrollment: EnrollmentService
    simulate: bool = False
    devices: Any = None
    """``station.devices.DeviceHub`` (engineer E), or None."""
    power: Any = None
    """``station.power.PowerPolicy`` (E), or None; when set, it gates ``enrollment.start``."""
    uploader: Any = None
    """``station.sync.Uploader`` (G), or None."""
    telemetry: Any = None
    """``station.telemetry.Telemetry`` (G), or None."""
    started_at: datetime | None = None
    recovery: RecoveryReport | None = None
    housekeeping_interval_s: float = 3600.0
    """How often acknowledged packets older than ``station.retention_days`` are purged while running."""
    locked: bool = False
    """Set by the office's ``lock`` command: the UI refuses new work until ``unlock``."""
    poweroff_requested: threading.Event = field(default_factory=threading.Event)
    """Set when the battery is empty: the main loop stops the station, then ``finish_poweroff`` runs."""
    poweroff_command: Callable[[], None] | None = None
    """What powers the machine off (``systemctl poweroff`` on a real station; None under ``--simulate``)."""
    _powered_off: bool = False
    _started_parts: list[str] = field(default_factory=list)
    _stopped: bool = False
    _stop_event: threading.Event = field(default_factory=threading.Event)
    _housekeeper: threading.Thread | None = None

    def start(self) -> None:
        """Clean up after any crash, purge old acknowledged packets, then start the optional parts."""
        self.recovery = self.outbox.recover()
        if not self.recovery.clean:
            log.warning("recovered after an unclean stop: %s", self.recovery)
            self.bus.publish("station.recovered", removed_tmp=self.recovery.removed_tmp,
                             removed_orphans=self.recovery.removed_orphans,
                             missing_files=self.recovery.missing_files)
        self.purge()
        if self.power is not None and hasattr(self.power, "allows_new_enrollment"):
            self.enrollment.set_start_guard(self.power.allows_new_enrollment)
        for name in OPTIONAL_PARTS:
            part = getattr(self, name)
            if part is not None and hasattr(part, "start"):
                part.start()
                self._started_parts.append(name)
        self._housekeeper = threading.Thread(target=self._housekeeping, name="station-housekeeping", daemon=True)
        self._housekeeper.start()
        self.started_at = utc_now()
        self.bus.publish("station.started", station=self.config.station.id)

    def purge(self) -> int:
        """Delete files of packets acknowledged more than ``retention_days`` ago (rows stay)."""
        purged = self.outbox.purge_acknowledged(older_than_days=self.config.station.retention_days)
        if purged:
            log.info("purged %d acknowledged packet file(s)", purged)
            self.bus.publish("outbox.purged", count=purged)
        return purged

    def _housekeeping(self) -> None:
        while not self._stop_event.wait(self.housekeeping_interval_s):
            try:
                self.purge()
            except Exception:  # noqa: BLE001 - a failed purge must not end the loop; it is retried next round
                log.exception("purging acknowledged packets failed")

    def stop(self) -> None:
        """Stop parts in reverse order and close the store; idempotent, and one failing part does not stop the rest."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=10)
        for name in reversed(self._started_parts):
            try:
                getattr(self, name).stop()
            except Exception:  # noqa: BLE001 - keep stopping the others, and say which one failed
                log.exception("stopping %s failed", name)
        self._started_parts.clear()
        with self.db_lock:
            self.conn.close()

    def handle_command(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Office commands relayed by telemetry (already signature-checked): sync-now, report, lock, unlock, message,
        requeue."""
        if name == "sync-now":
            if self.uploader is None:
                return {"synced": False, "reason": "no uploader configured"}
            self.uploader.sync_now()
            return {"synced": True}
        if name in ("lock", "unlock"):
            reason = str(args.get("reason", "")) if name == "lock" else None
            with self.db_lock:
                store.set_meta(self.conn, OFFICE_LOCK_KEY, reason)  # a power cycle must not unlock the station
            self._apply_lock(reason)
            return {"locked": self.locked}
        if name == "message":
            self.bus.publish("station.message", text=str(args.get("text", "")))
            return {"shown": True}
        if name == "report":
            return {"queue": self.snapshot()["queue"]}
        if name == "requeue":
            return self._requeue(args)
        raise ValueError(f"unknown command {name!r}")

    def _requeue(self, args: dict[str, Any]) -> dict[str, Any]:
        """The office's ``requeue``: {"packet_id": ID} or {"all_rejected": true} back to pending, then a round."""
        packet_id = args.get("packet_id")
        if args.get("all_rejected") is True and packet_id is None:
            with self.db_lock:
                ids = self.outbox.requeue_all_rejected()
        elif isinstance(packet_id, str) and "all_rejected" not in args:
            with self.db_lock:
                self.outbox.requeue(packet_id)     # OutboxError (not rejected, unknown) goes back as the reply
            ids = [packet_id]
        else:
            raise ValueError('requeue needs {"packet_id": ID} or {"all_rejected": true}')
        if ids:
            with self.db_lock:
                append_audit(self.conn, "office", "queue.requeue", {"packet_ids": ids})
            if self.uploader is not None:
                self.uploader.sync_now()
        return {"requeued": ids}

    def _apply_lock(self, reason: str | None) -> None:
        self.locked = reason is not None
        self.enrollment.set_locked(reason)
        self.bus.publish("station.locked", locked=self.locked, reason=reason or "")

    def restore_lock(self) -> None:
        """Re-apply an office lock that was in force when the station last stopped."""
        with self.db_lock:
            reason = store.get_meta(self.conn, OFFICE_LOCK_KEY)
        if reason is not None:
            self._apply_lock(reason)

    def request_poweroff(self) -> None:
        """The power policy's shutdown on a real station (its thread): tell the office first, then end the main
        loop. The machine powers off in ``finish_poweroff``, after the station has stopped and the store is
        closed (``station.service.serve``)."""
        if self.poweroff_requested.is_set():
            return
        from station.shutdown import announce_shutdown

        announce_shutdown(self)
        self.poweroff_requested.set()

    def finish_poweroff(self) -> None:
        """Run the power-off command once, if a power-off was requested (the store must be closed by now)."""
        if self.poweroff_requested.is_set() and self.poweroff_command is not None and not self._powered_off:
            self._powered_off = True
            log.warning("powering off")
            self.poweroff_command()

    def simulated_shutdown(self) -> None:
        """What the power policy's shutdown does under ``--simulate``: say so, never power the machine off."""
        log.warning("power policy asked for a shutdown (simulated: not powering off)")
        self.bus.publish("power.shutdown_simulated")

    def snapshot(self) -> dict[str, Any]:
        """Status for the UI, the CLI and telemetry (DESIGN §7 field names where they overlap)."""
        now = utc_now()
        stats = self.outbox.stats(now)
        with self.db_lock:
            session = sessions.current_session(self.conn)
            enrolled = sessions.enrolled_in_session(self.conn, session.id) if session else 0
            schema = self.conn.execute("PRAGMA user_version").fetchone()[0]
        drafts = self.enrollment.active_drafts()
        return {
            "station": self.config.station.id,
            "district": self.config.station.district,
            "version": software_version(),
            "simulate": self.simulate,
            "uptime_s": (now - self.started_at).total_seconds() if self.started_at else 0.0,
            "data_dir": str(self.config.station.data_dir),
            "schema_version": schema,
            "queue": {"pending": stats.pending, "pending_bytes": stats.pending_bytes,
                      "oldest_pending_age_s": stats.oldest_pending_age_s,
                      "acknowledged_total": stats.acknowledged_total},
            "session": {"id": session.id, "desa": session.kode_desa, "enrolled": enrolled} if session else None,
            "drafts": [{"id": d.id, "nik": d.nik, "step": d.step.value} for d in drafts],
            "storage": {"free_mb": round(shutil.disk_usage(self.config.station.data_dir).free / 1024 / 1024, 1)},
            "devices": self.devices.health() if self.devices is not None else None,
            "power": _power_snapshot(self.power),
            "locked": self.locked,
        }


def _power_snapshot(power: Any) -> dict[str, Any] | None:
    if power is None:
        return None
    snap = power.snapshot()
    return {k: getattr(snap, k, None) for k in
            ("on_mains", "battery_percent", "voltage_v", "charging", "minutes_left", "level")}


# -- optional parts: one builder per part, (station, simulate) -> part | None --------------------------------------
# Each imports its module only when called, so a part that is not installed leaves the station running without it.

def _build_devices(station: Station, simulate: bool) -> Any:
    from station.devices import DeviceHub

    return DeviceHub(station.config, station.bus, simulate=simulate)


def _build_power(station: Station, simulate: bool) -> Any:
    from station.power import PowerPolicy, systemctl_poweroff

    battery = getattr(station.devices, "battery", None)
    if simulate:
        shutdown = station.simulated_shutdown
    else:
        station.poweroff_command = systemctl_poweroff
        shutdown = station.request_poweroff
    return PowerPolicy(station.config.power, battery, station.bus, shutdown,
                       shutdown_grace_s=station.config.power.shutdown_grace_s)


def _build_uploader(station: Station, simulate: bool) -> Any:
    office = station.config.office
    if not office.url:
        log.info("office.url is not set: records stay queued, nothing is uploaded")
        return None
    if importlib.util.find_spec("station.sync") is None:
        log.warning("station.sync is not installed: records stay queued")
        return None
    if not office.verify_key:
        raise ConfigError("office.verify_key is needed with office.url: receipts cannot be checked without it")
    token = station.config.office_token()  # ConfigError naming the key when its file is unreadable
    from station.sync import Uploader

    return Uploader(station.outbox, office_url=office.url, token=token,
                    office_verify_key=office.verify_key, bus=station.bus, power_policy=station.power,
                    station_id=station.config.station.id, ca_file=str(office.ca) if office.ca else None)


def _build_telemetry(station: Station, simulate: bool) -> Any:
    if not station.config.mqtt.host:
        return None
    from station.telemetry import Telemetry

    return Telemetry(station.config, station_snapshot=station.snapshot, bus=station.bus,
                     office_verify_key=station.config.office.verify_key or None, on_command=station.handle_command,
                     seen_commands_path=station.config.station.data_dir / "seen-commands.json")


OFFICE_LOCK_KEY = "office_lock_reason"
"""``meta`` key holding the reason of an office ``lock`` command while it is in force."""

PART_BUILDERS: dict[str, Callable[[Station, bool], Any]] = {
    "devices": _build_devices,
    "power": _build_power,
    "uploader": _build_uploader,
    "telemetry": _build_telemetry,
}


def build_station(config: Config, *, simulate: bool = False,
                  builders: dict[str, Callable[[Station, bool], Any]] | None = None) -> Station:
    """Open the store and wire the services; nothing runs until ``start()``."""
    data_dir = config.station.data_dir
    key_file = config.station_key_file
    if not key_file.exists():
        raise ConfigError(f"no station key at {key_file}: run 'jemput station init --config {config.source or 'F'}'")
    signing_key = keys.load_signing_key(key_file)
    conn = store.connect(data_dir)
    lock = threading.RLock()
    bus = EventBus()
    outbox = Outbox(conn, data_dir / "packets", lock=lock)
    enrollment = EnrollmentService(
        conn, station_id=config.station.id, recipient=config.office.public_key, signing_key=signing_key,
        biometrics_recipient=config.office.biometrics_key,
        outbox=outbox, bus=bus, software_version=software_version(), lock=lock,
        min_free_mb=config.station.min_free_mb,
        finger_threshold=config.devices.fingerprint.quality_threshold,
        max_finger_attempts=config.devices.fingerprint.max_attempts,
    )
    station = Station(config=config, conn=conn, db_lock=lock, bus=bus, signing_key=signing_key, outbox=outbox,
                      enrollment=enrollment, simulate=simulate)
    station.restore_lock()
    chosen = PART_BUILDERS if builders is None else builders
    try:
        for name in OPTIONAL_PARTS:
            builder = chosen.get(name)
            if builder is not None:
                setattr(station, name, builder(station, simulate))
    except BaseException:
        station._started_parts = [n for n in OPTIONAL_PARTS if hasattr(getattr(station, n), "stop")]
        station.stop()  # emulators and ports the earlier builders opened
        raise
    return station


def init_station(config: Config) -> tuple[str, bool]:
    """Create the data dir, the store and the station key (0600) if missing; returns (public key b64, created)."""
    data_dir = config.station.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "packets").mkdir(exist_ok=True)
    store.connect(data_dir).close()
    key_file = config.station_key_file
    created = False
    if key_file.exists():
        key = keys.load_signing_key(key_file)
    else:
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = keys.generate_signing_key()
        keys.save_private_key(key, key_file)
        created = True
    return keys.public_key_b64(key), created

