"""The station container and the ``jemput station`` / ``jemput queue`` commands, on real files and processes."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import Payloads, ensure_operator, ensure_session, make_resident, run_to_review

from station.cli import main
from station.config import load_config
from station.errors import ConfigError
from station.keys import load_signing_key, public_key_b64
from station.runtime import PART_BUILDERS, build_station, init_station

JEMPUT = Path(sys.executable).with_name("jemput")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config_file(tmp_path: Path, office_identity, biometrics_identity) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(
        f'[station]\nid = "kph-01"\ndistrict = "6106"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[office]\npublic_key = "{office_identity[1]}"\nbiometrics_key = "{biometrics_identity[1]}"\n'
        f'[ui]\nport = {_free_port()}\n',
        encoding="utf-8",
    )
    return path


def _enroll(station, n: int) -> str:
    with station.db_lock:
        operator = ensure_operator(station.conn)
        session_id = ensure_session(station.conn, operator)
    draft = station.enrollment.start(session_id, make_resident(n), operator)
    run_to_review(station.enrollment, draft.id, Payloads.random(128), operator)
    return station.enrollment.finish(draft.id)


def test_init_creates_a_0600_key_and_prints_its_public_half(config_file, capsys):
    assert main(["station", "init", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    config = load_config(config_file)
    key_file = config.station_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = public_key_b64(load_signing_key(key_file))
    assert f"public key:  {public}" in out and "(created)" in out
    assert main(["station", "init", "--config", str(config_file)]) == 0  # idempotent: the key is kept
    again = capsys.readouterr().out
    assert public in again and "already present, kept" in again


def test_run_without_a_key_is_a_config_error(config_file, capsys):
    with pytest.raises(ConfigError, match="jemput station init"):
        build_station(load_config(config_file))
    assert main(["station", "run", "--config", str(config_file), "--no-frontends"]) == 2
    assert main(["station", "status", "--config", str(config_file)]) == 1
    assert "no station store" in capsys.readouterr().err


def test_station_start_recovers_and_snapshot_reports(config_file):
    config = load_config(config_file)
    init_station(config)
    orphan = config.station.data_dir / "packets" / "0190b0b0-0000-7000-8000-00000000000b.jpk"
    orphan.write_bytes(b"never committed")
    station = build_station(config)
    recovered = station.bus.subscribe("station.")
    station.start()
    try:
        assert station.recovery.removed_orphans == [orphan.name] and not orphan.exists()
        assert recovered.get(timeout_s=1).topic == "station.recovered"
        packet_id = _enroll(station, 1)
        with station.db_lock:
            draft = station.enrollment.start(ensure_session(station.conn, ensure_operator(station.conn)),
                                             make_resident(2), ensure_operator(station.conn))
        snap = station.snapshot()
        assert snap["queue"]["pending"] == 1 and snap["queue"]["pending_bytes"] == station.outbox.get(
            packet_id).size_bytes
        assert snap["session"]["desa"] == "61.06.01.2001" and snap["session"]["enrolled"] == 1
        assert snap["drafts"] == [{"id": draft.id, "nik": draft.nik, "step": "confirm"}]
        assert snap["schema_version"] >= 1 and snap["storage"]["free_mb"] > 0 and snap["station"] == "kph-01"
        json.dumps(snap)  # the UI and telemetry serialise it
    finally:
        station.stop()
        station.stop()  # idempotent


class _Power:
    """Stands in for E's PowerPolicy: only the hook the container wires up."""

    def __init__(self) -> None:
        self.allow = True
        self.started = self.stopped = False

    def allows_new_enrollment(self) -> bool:
        return self.allow

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def test_optional_parts_plug_in_and_power_gates_new_work(config_file):
    config = load_config(config_file)
    init_station(config)
    power = _Power()
    station = build_station(config, builders={"power": lambda st, simulate: power})
    station.start()
    try:
        assert power.started and station.devices is None and station.uploader is None
        power.allow = False
        from station.enrollment import StartRefused

        with pytest.raises(StartRefused):
            _enroll(station, 3)
        power.allow = True
        assert _enroll(station, 3)
    finally:
        station.stop()
    assert power.stopped


def test_simulated_station_has_devices_and_power_gating(config_file):
    config = load_config(config_file)
    init_station(config)
    station = build_station(config, simulate=True)
    station.start()
    try:
        snap = station.snapshot()
        assert {name: d["health"] for name, d in snap["devices"].items()} == {
            "camera": "ok", "fingerprint": "ok", "signature_pad": "ok", "battery": "ok"}
        assert snap["power"]["level"] == "ok" and station.uploader is None and station.telemetry is None
        assert station.enrollment._start_guard == station.power.allows_new_enrollment
        json.dumps(snap)
    finally:
        station.stop()


def test_office_commands(config_file):
    config = load_config(config_file)
    init_station(config)
    station = build_station(config, builders={})
    events = station.bus.subscribe("station.")
    try:
        assert station.handle_command("lock", {"reason": "audit"}) == {"locked": True}
        assert station.snapshot()["locked"] is True
        assert events.get(timeout_s=1).data == {"locked": True, "reason": "audit"}
        from station.enrollment import StartRefused

        with pytest.raises(StartRefused, match="locked by the office: audit"):
            _enroll(station, 1)
        assert station.handle_command("unlock", {}) == {"locked": False}
        events.get(timeout_s=1)
        assert _enroll(station, 1)
        assert station.handle_command("message", {"text": "Kirim data sore ini"}) == {"shown": True}
        assert events.get(timeout_s=1).data == {"text": "Kirim data sore ini"}
        assert station.handle_command("sync-now", {})["synced"] is False
        assert station.handle_command("report", {})["queue"]["pending"] == 1
        with pytest.raises(ValueError, match="unknown command"):
            station.handle_command("format-disk", {})
    finally:
        station.stop()


def test_office_lock_survives_a_restart(config_file):
    config = load_config(config_file)
    init_station(config)
    station = build_station(config, builders={})
    try:
        station.handle_command("lock", {"reason": "audit"})
    finally:
        station.stop()
    from station.enrollment import StartRefused

    station = build_station(config, builders={})  # as after a power cycle
    try:
        assert station.snapshot()["locked"] is True
        with pytest.raises(StartRefused, match="locked by the office: audit"):
            _enroll(station, 1)
        station.handle_command("unlock", {})
    finally:
        station.stop()
    station = build_station(config, builders={})
    try:
        assert station.snapshot()["locked"] is False
        assert _enroll(station, 1)
    finally:
        station.stop()


def test_status_and_queue_list(config_file, capsys):
    config = load_config(config_file)
    init_station(config)
    station = build_station(config)
    station.start()
    try:
        first, second = _enroll(station, 1), _enroll(station, 2)
        station.outbox.record_failure(first, "office unreachable: connection refused")
        station.outbox.acknowledge(second, {"packet_id": second})
    finally:
        station.stop()
    capsys.readouterr()
    assert main(["station", "status", "--config", str(config_file), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["queue"]["pending"] == 1 and status["queue"]["acknowledged_total"] == 1
    assert status["last_acknowledged"]["packet_id"] == second and status["drafts"] == []
    assert main(["station", "status", "--config", str(config_file)]) == 0
    text = capsys.readouterr().out
    assert f"last acknowledged: {second}" in text and "1 pending" in text
    assert main(["queue", "list", "--config", str(config_file)]) == 0
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if line.startswith(first))
    assert "sealed" in row and "office unreachable: connection refused" in row
    assert main(["queue", "list", "--config", str(config_file), "--json"]) == 0
    items = {i["packet_id"]: i for i in json.loads(capsys.readouterr().out)}
    assert items[first]["attempts"] == 1 and items[second]["state"] == "acknowledged"


def _run_until_sigterm(config_file: Path, *extra: str) -> tuple[int, str]:
    proc = subprocess.Popen([str(JEMPUT), "station", "run", "--config", str(config_file), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    running = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "running; SIGTERM" in line:
                running.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert running.wait(timeout=30), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    reader.join(timeout=10)
    return code, "".join(lines)


def test_run_reports_state_and_stops_cleanly_on_sigterm(config_file):
    config = load_config(config_file)
    init_station(config)
    (config.station.data_dir / "packets" / ".x.jpk.tmp").write_bytes(b"half")
    code, log = _run_until_sigterm(config_file, "--no-frontends")
    assert code == 0, log
    assert f"data dir {config.station.data_dir}, schema version" in log
    assert "queue: 0 pending" in log and "active drafts: 0" in log
    assert "removed 1 tmp" in log and "stopped cleanly" in log


def test_simulated_run_starts_front_ends_or_says_why_not(config_file):
    init_station(load_config(config_file))
    started = time.monotonic()
    code, log = _run_until_sigterm(config_file, "--simulate")
    assert code == 0, log
    assert "front end kiosk started" in log or "front end kiosk not available" in log, log
    assert time.monotonic() - started < 60


def test_shared_connection_is_safe_across_threads(config_file):
    """An uploader-like thread works the outbox while enrollments commit on the same connection."""
    config = load_config(config_file)
    init_station(config)
    station = build_station(config, builders={})
    station.start()
    errors: list[BaseException] = []
    done = threading.Event()

    def uploader() -> None:
        try:
            while not done.is_set():
                for item in station.outbox.pending():
                    station.outbox.mark_uploading(item.packet_id, upload_url=None, offset=0)
                    station.outbox.record_failure(item.packet_id, "link down")
                    station.outbox.acknowledge(item.packet_id, {"packet_id": item.packet_id})
                station.outbox.stats()
                station.snapshot()
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=uploader)
    thread.start()
    try:
        ids = [_enroll(station, n) for n in range(1, 16)]
    finally:
        done.set()
        thread.join(timeout=30)
        for packet_id in station.outbox.pending():
            station.outbox.acknowledge(packet_id.packet_id, {})
        stats = station.outbox.stats()
        station.stop()
    assert errors == []
    assert stats.acknowledged_total == len(ids) and stats.pending == 0


def test_housekeeping_purges_acknowledged_packets_while_running(tmp_path, office_identity, biometrics_identity):
    from station.config import config_from_dict

    config = config_from_dict({"station": {"id": "kph-01", "district": "6106", "data_dir": str(tmp_path / "d"),
                                           "retention_days": 0},
                               "office": {"public_key": office_identity[1],
                                          "biometrics_key": biometrics_identity[1]}})
    init_station(config)
    station = build_station(config, builders={})
    station.housekeeping_interval_s = 0.05
    station.start()
    try:
        packet_id = _enroll(station, 1)
        path = station.outbox.get(packet_id).path
        station.outbox.acknowledge(packet_id, {"packet_id": packet_id})
        deadline = time.monotonic() + 10
        while station.outbox.get(packet_id).state.value != "purged" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert station.outbox.get(packet_id).state.value == "purged" and not path.exists()
    finally:
        station.stop()


def test_uploader_needs_the_office_verify_key_and_a_readable_token(tmp_path, office_identity):
    from station.config import config_from_dict

    base = {"station": {"id": "kph-01", "district": "6106", "data_dir": str(tmp_path / "d")},
            "office": {"public_key": office_identity[1], "url": "http://127.0.0.1:9"}}
    config = config_from_dict(base)
    init_station(config)
    with pytest.raises(ConfigError, match="office.verify_key is needed"):
        build_station(config, builders={"uploader": PART_BUILDERS["uploader"]})
    base["office"] |= {"verify_key": public_key_b64(load_signing_key(config.station_key_file)),
                       "token": f"@{tmp_path / 'missing-token'}"}
    with pytest.raises(ConfigError, match="office.token' names .* cannot be read"):
        build_station(config_from_dict(base), builders={"uploader": PART_BUILDERS["uploader"]})
