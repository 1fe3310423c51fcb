"""Pure parts of the link: status building, significance, command checks, message parsing, config generation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from link_helpers import snapshot

from office.ingest import Rejected, parse_message
from office.mosquitto import mosquitto_config_command
from station.commands import CommandRejected, CommandVerifier, sign_command
from station.telemetry_status import build_status, derive_events, significant_change


@dataclass(frozen=True)
class PowerSnapshot:           # shaped like station.power.PowerSnapshot
    on_mains: bool
    battery_percent: float
    voltage_v: float
    charging: bool
    minutes_left: float | None
    level: str


def test_status_from_dataclasses_and_missing_parts(tmp_path: Path) -> None:
    snap = {"power": PowerSnapshot(False, 55.5, 7.4, False, 90.0, "ok"), "devices": {"camera": {"health": "absent"},
            "fingerprint": {"health": "error", "reason": "timeout"}}}
    status = build_status(snap, station="kph-01", district="6106", data_dir=tmp_path,
                          now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert status["ts"] == "2026-01-02T03:04:05Z"
    assert status["power"] == {"on_mains": False, "battery_percent": 55.5, "voltage_v": 7.4, "charging": False,
                               "minutes_left": 90.0}
    assert status["devices"] == {"camera": "absent", "fingerprint": "fault", "signature_pad": "absent",
                                 "battery": "absent"}
    assert status["queue"] == {"pending": 0, "pending_bytes": 0, "oldest_pending_age_s": None, "acknowledged_total": 0}
    assert status["session"] is None and status["locked"] is False
    assert isinstance(status["storage"]["free_mb"], int) and status["storage"]["free_mb"] > 0


def test_significant_change_ignores_noise() -> None:
    base = build_status(snapshot(), station="s", district="6106")
    assert significant_change(None, base) == "first"
    assert significant_change(base, build_status(snapshot(uptime_s=999, power={"battery_percent": 80.1}),
                                                 station="s", district="6106")) is None
    cases = {"battery_step": snapshot(power={"battery_percent": 79.9}), "power_source": snapshot(
        power={"on_mains": False}), "queue": snapshot(queue={"pending": 2}), "devices": snapshot(
        devices={"camera": "fault"}), "state": snapshot(locked=True)}
    for reason, snap in cases.items():
        assert significant_change(base, build_status(snap, station="s", district="6106")) == reason


def test_alarm_events_fire_on_the_edge_only() -> None:
    ok = build_status(snapshot(), station="s", district="6106")
    low = build_status(snapshot(power={"on_mains": False, "battery_percent": 18.0}, storage={"free_mb": 100}),
                       station="s", district="6106")
    assert [e[0] for e in derive_events(ok, low, warn_percent=20, disk_low_mb=500)] == ["battery_low", "disk_low"]
    assert derive_events(low, low, warn_percent=20, disk_low_mb=500) == []


def test_command_checks(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    seen = tmp_path / "seen.json"
    verifier = CommandVerifier(key.public_key(), seen_path=seen)

    def reason(cmd: dict, name: str | None = None, v: CommandVerifier = verifier) -> str:
        with pytest.raises(CommandRejected) as exc:
            v.verify(json.dumps(cmd).encode(), topic_name=name or cmd["name"], now=now)
        return exc.value.reason

    assert reason(sign_command("lock", {}, office_key=key, now=now + timedelta(minutes=30))) == "future"
    assert reason(sign_command("lock", {}, office_key=key, lifetime_s=3600)) == "too_long"
    assert reason(sign_command("reboot", {}, office_key=key)) == "unknown_command"
    assert reason({"id": "a/b#", "name": "lock"}, "lock") == "malformed"
    assert reason(sign_command("lock", {}, office_key=key), "unlock") == "wrong_topic"
    good = sign_command("message", {"text": "Sinyal lemah"}, office_key=key)
    assert verifier.verify(json.dumps(good).encode(), topic_name="message", now=now).args == {"text": "Sinyal lemah"}
    # a restarted station still remembers the id
    assert reason(good, v=CommandVerifier(key.public_key(), seen_path=seen)) == "replayed"
    assert reason(sign_command("lock", {}, office_key=key), v=CommandVerifier(None)) == "no_key"


def test_parse_message_rules() -> None:
    assert parse_message("jemput/v1/6106/kph-01/cmd/lock", b"{}") is None      # our own commands
    assert parse_message("jemput/v1/6106/kph-01/status", b"") is None           # a cleared retained message
    for topic, payload, why in (("jemput/v1/61/kph-01/status", b"{}", "bad_topic"),
                                ("jemput/v1/6106/KPH/status", b"{}", "bad_topic"),
                                ("jemput/v1/6106/kph-01/reply/x", b'{"id": "x"}', "bad_schema"),
                                ("jemput/v1/6106/kph-01/event", b"[1]", "bad_schema")):
        with pytest.raises(Rejected) as exc:
            parse_message(topic, payload)
        assert exc.value.reason == why


def test_mosquitto_config_command(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(mosquitto_config_command, ["--out", str(tmp_path / "mq"), "--station", "kph-01",
                                                      "--port", "18883", "--bind", "127.0.0.1",
                                                      "--district", "6106"])
    assert result.exit_code == 0, result.output
    conf = (tmp_path / "mq" / "mosquitto.conf").read_text()
    assert "listener 18883 127.0.0.1" in conf and "allow_anonymous false" in conf and "password_file" in conf
    acl = (tmp_path / "mq" / "acl").read_text()
    assert "pattern write jemput/v1/6106/%u/status" in acl and "pattern read jemput/v1/6106/%u/cmd/#" in acl
    assert "/+/%u" not in acl and "topic read jemput/v1/6106/#" in acl       # pinned to the office's district
    assert "use_username_as_clientid true" in conf
    users = [line.split(":")[0] for line in (tmp_path / "mq" / "passwd").read_text().splitlines()]
    assert users == ["jemput-office", "kph-01"]
    assert (tmp_path / "mq" / "passwd").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "mq" / "credentials" / "kph-01").stat().st_mode & 0o777 == 0o600
    no_district = runner.invoke(mosquitto_config_command, ["--out", str(tmp_path / "nd")])
    assert no_district.exit_code == 2 and "--district" in no_district.output
    missing = runner.invoke(mosquitto_config_command, ["--out", str(tmp_path / "tls"), "--tls", "--district", "6106"])
    assert missing.exit_code == 2 and "--cafile" in missing.output
    for name in ("ca.pem", "server.pem", "server.key"):
        (tmp_path / name).write_text("x")
    tls = runner.invoke(mosquitto_config_command, ["--out", str(tmp_path / "tls"), "--tls", "--district", "6106",
                        "--cafile", str(tmp_path / "ca.pem"), "--certfile", str(tmp_path / "server.pem"), "--keyfile",
                        str(tmp_path / "server.key")])
    assert tls.exit_code == 0, tls.output
    conf = (tmp_path / "tls" / "mosquitto.conf").read_text()
    assert "use_identity_as_username true" in conf and "require_certificate true" in conf
    assert "listener 8883" in conf and "password_file" not in conf
