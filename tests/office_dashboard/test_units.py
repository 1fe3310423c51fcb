"""Alert rules, command states, bad input on the station page, the users CLI and the translations."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dashboard_helpers import csrf_token, log_in

from office import alerts, commands, fleet
from office import telemetry_db as tdb
from office.config import office_config_from_dict
from office.db import open_db, utc_now
from office.ingest import Message

JEMPUT = Path(sys.executable).parent / "jemput"
ROOT = Path(__file__).resolve().parents[2]


def _status(ts: Any, **power: Any) -> dict[str, Any]:
    return {"schema": "jemput.status/1", "station": "kph-01", "district": "6106",
            "ts": ts.isoformat().replace("+00:00", "Z"),
            "power": {"on_mains": False, "battery_percent": 50, **power}, "queue": {"oldest_pending_age_s": 10},
            "devices": {"camera": "ok"}, "storage": {"free_mb": 20000}, "session": None}


def _engine(tmp_path: Path, **alert_cfg: Any) -> tuple[Any, Any]:
    config = office_config_from_dict({"office": {"district": "6106", "data_dir": str(tmp_path)},
                                      "alerts": {"consecutive": 3, **alert_cfg}})
    engine = open_db(config.database_url)
    alerts.create_alert_tables(engine)
    return config, engine


def test_an_alert_needs_n_consecutive_statuses_to_raise_and_to_clear(tmp_path: Path) -> None:
    config, engine = _engine(tmp_path)
    changes: list[set[str]] = []
    engine_ = alerts.AlertEngine(config, engine, on_change=changes.append)
    t0 = utc_now()
    levels = [15, 15, 60, 15, 15, 15, 60, 15, 60, 60, 60]       # flapping at first, then three low in a row
    raised_at, cleared_at = None, None
    for i, pct in enumerate(levels):
        ts = t0 + timedelta(seconds=60 * i)
        engine_.on_batch([Message("status", "6106", "kph-01", _status(ts, battery_percent=pct), ts)])
        open_ = alerts.list_alerts(engine)
        if open_ and raised_at is None:
            raised_at = i
        if raised_at is not None and not open_ and cleared_at is None:
            cleared_at = i
    assert raised_at == 5          # the 3rd low status in a row (indexes 3, 4, 5)
    assert cleared_at == 10        # a single good status (6) does not clear; three in a row (8, 9, 10) do
    history = alerts.list_alerts(engine, open_only=False)
    assert len(history) == 1 and history[0].cleared_at is not None and history[0].rule is alerts.Rule.BATTERY_LOW
    assert changes == [{"kph-01"}, {"kph-01"}]


def test_on_mains_a_low_battery_is_no_alert_and_retained_copies_count_once(tmp_path: Path) -> None:
    config, engine = _engine(tmp_path)
    engine_ = alerts.AlertEngine(config, engine)
    ts = utc_now()
    low_on_mains = _status(ts, on_mains=True, battery_percent=5)
    for _ in range(5):
        engine_.on_batch([Message("status", "6106", "kph-01", low_on_mains, ts)])
    assert alerts.list_alerts(engine) == []
    low = _status(ts + timedelta(seconds=1), battery_percent=5)
    for _ in range(5):              # the same status again and again (retained re-delivery): one vote, not five
        engine_.on_batch([Message("status", "6106", "kph-01", low, ts, retained=True)])
    assert alerts.list_alerts(engine) == []


def test_status_rules_pending_device_storage_and_clock(tmp_path: Path) -> None:
    config, _engine_ = _engine(tmp_path, pending_after_h=72, storage_low_mb=500, clock_skew_s=300)
    now = utc_now()
    status = _status(now - timedelta(minutes=10))
    status["queue"]["oldest_pending_age_s"] = 4 * 86400
    status["devices"] = {"camera": "ok", "fingerprint": "fault"}
    status["storage"]["free_mb"] = 100
    found = alerts.status_conditions(status, now, config)
    assert found[alerts.Rule.PENDING_OLD] and found[alerts.Rule.STORAGE_LOW]
    assert found[alerts.Rule.DEVICE_FAULT] == {"devices": ["fingerprint"]}
    assert found[alerts.Rule.CLOCK_SKEW] == {"skew_s": -600}
    assert alerts.status_conditions(status, now, config, retained=True)[alerts.Rule.CLOCK_SKEW] is None
    assert alerts.status_conditions({"power": "junk", "queue": [], "ts": 5}, now, config) == dict.fromkeys(
        alerts.STATUS_RULES)        # a malformed status is no condition and no crash


def test_offline_with_a_session_raises_after_the_delay_and_clears_online(tmp_path: Path) -> None:
    from office import stations
    from station import keys

    config, engine = _engine(tmp_path, offline_after_s=1800)
    stations.register_station(engine, "kph-01", keys.public_key_b64(keys.generate_signing_key()), "6106")
    eng = alerts.AlertEngine(config, engine)
    gone = utc_now() - timedelta(minutes=20)
    status = _status(gone)
    status["session"] = {"id": "s1", "desa": "61.06.01.2004", "enrolled": 3}
    with engine.begin() as conn:
        conn.execute(tdb.station_status.insert().values(station="kph-01", district="6106", state="offline",
                                                        state_changed_at=gone, status_ts=status["ts"],
                                                        status_json=json.dumps(status), received_at=gone))
    assert eng.tick() == set()                                   # 20 min < 30 min
    assert eng.tick(now=gone + timedelta(minutes=31)) == {"kph-01"}
    assert [a.rule for a in alerts.list_alerts(engine)] == [alerts.Rule.OFFLINE]
    eng.on_batch([Message("state", "6106", "kph-01", "online", utc_now())])
    assert alerts.list_alerts(engine) == []


def test_command_states(tmp_path: Path) -> None:
    _config, engine = _engine(tmp_path)
    sent = utc_now() - timedelta(seconds=40)

    def add(cid: str, *, online: bool, at: Any = sent, lifetime: int = 600) -> None:
        with engine.begin() as conn:
            conn.execute(commands.office_commands.insert().values(
                id=cid, station="kph-01", name="lock", args_json='{"reason": "x"}', sent_by="kepala", sent_at=at,
                expires_at=at + timedelta(seconds=lifetime), station_online=online))

    add("a", online=True)
    add("b", online=True)
    add("c", online=True, at=utc_now() - timedelta(seconds=700))
    with engine.begin() as conn:
        conn.execute(tdb.command_replies.insert().values(station="kph-01", command_id="b", ok=True,
                                                         reply_json='{"id": "b", "ok": true}', received_at=utc_now()))
    online = {c.id: c.state for c in commands.recent_commands(engine, "kph-01", station_online=True, answer_wait_s=30)}
    assert online == {"a": commands.CommandState.NO_ANSWER, "b": commands.CommandState.OK,
                      "c": commands.CommandState.EXPIRED}
    offline = {c.id: c.state for c in commands.recent_commands(engine, "kph-01", station_online=False,
                                                               answer_wait_s=30)}
    assert offline["a"] is commands.CommandState.WAITING


def test_command_arguments_are_checked() -> None:
    for name, form, key in (("lock", {}, "reason"), ("lock", {"reason": "x" * 301}, "reason"),
                            ("message", {"text": "  "}, "text"), ("requeue", {"packet_id": "nope"}, "packet_id"),
                            ("reboot", {}, "name")):
        try:
            commands.validate_args(name, form)
        except commands.CommandError as exc:
            assert exc.key == key
        else:
            raise AssertionError(f"{name} {form} accepted")
    assert commands.validate_args("requeue", {}) == {"all_rejected": True}


def test_bad_input_on_the_page_is_a_clear_message_and_sends_nothing(office_app: Any) -> None:
    client = office_app.test_client()
    log_in(client, "kepala", "admin-pass-123")
    token = csrf_token(client, "/")
    response = client.post("/stations/kph-01/commands/lock", data={"csrf_token": token, "reason": ""},
                           follow_redirects=True)
    assert "Penguncian perlu alasan" in response.get_data(as_text=True)
    assert client.post("/stations/kph-01/commands/lock", json={"reason": ""},
                       headers={"X-CSRFToken": token}).json["field"] == "reason"
    assert client.post("/stations/kph-99/commands/lock", data={"csrf_token": token, "reason": "x"}).status_code == 404
    assert client.get("/stations/<script>").status_code == 404
    assert client.get("/api/v1/dashboard/stations/kph-01/battery?range=1y").status_code == 400
    with office_app.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(commands.office_commands)).scalar() == 0


def test_a_garbled_stored_status_never_breaks_the_list(office_app: Any) -> None:
    with office_app.engine.begin() as conn:
        conn.execute(tdb.station_status.insert().values(
            station="kph-01", district="6106", state="online", state_changed_at=utc_now(), status_ts="x",
            status_json=json.dumps({"power": "full", "queue": {"pending": "many"}, "devices": ["?"],
                                    "session": {"desa": 42}}), received_at=utc_now()))
        conn.execute(tdb.station_status.insert().values(       # telemetry from a station nobody registered
            station="kph-77", district="6106", state="online", received_at=utc_now()))
    client = office_app.test_client()
    log_in(client, "staf", "viewer-pass-123")
    assert client.get("/").status_code == 200
    assert client.get("/stations/kph-01").status_code == 200
    data = client.get("/api/v1/dashboard/stations").json
    assert [s["id"] for s in data["stations"]] == ["kph-01"]
    row = data["stations"][0]
    assert row["battery_percent"] is None and row["queue_pending"] is None and row["session"]["desa"] is None
    assert client.get("/stations/kph-77").status_code == 404


def test_station_row_names_the_desa_and_kecamatan() -> None:
    row = fleet.StationRow("kph-01", "", False, fleet.StationState.OFFLINE, None, None, None)
    fleet._fill_status(row, {"session": {"id": "s", "desa": "61.06.01.2004", "enrolled": 2}})
    assert row.session.desa_name == "Pala Pulau" and row.session.kecamatan_name == "Putussibau Utara"
    assert row.urgent                    # offline with a session open


def test_user_cli_reads_the_password_from_stdin(tmp_path: Path) -> None:
    toml = tmp_path / "office.toml"
    toml.write_text(f'[office]\ndistrict = "6106"\ndata_dir = "{tmp_path / "office"}"\n')

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(JEMPUT), "office", "user", *args, "--config", str(toml)], input=stdin,
                              capture_output=True, text=True, timeout=60)

    assert run("add", "kepala", "--role", "admin", stdin="a-long-password\n").returncode == 0
    assert run("add", "staf", "--role", "viewer", stdin="short\n").returncode != 0          # too short: refused
    assert "at least" in run("add", "staf", "--role", "viewer", stdin="short\n").stderr
    assert run("add", "staf", "--role", "boss", stdin="a-long-password\n").returncode != 0
    listed = run("list").stdout
    assert "kepala\tadmin" in listed and "staf" not in listed
    assert run("passwd", "kepala", stdin="another-long-one\n").returncode == 0
    from office import users

    engine = open_db(f"sqlite:///{tmp_path / 'office' / 'office.db'}")
    assert users.authenticate(engine, "kepala", "another-long-one").is_admin
    assert run("remove", "kepala").returncode == 0
    assert run("remove", "kepala").returncode != 0
    audit = subprocess.run([str(JEMPUT), "office", "audit", "verify", "--config", str(toml)], capture_output=True,
                           text=True, timeout=60)
    assert audit.returncode == 0 and "ok" in audit.stdout
    engine.dispose()


def test_password_hashes_are_scrypt_and_salted(tmp_path: Path) -> None:
    from office import users

    a, b = users.hash_password("same-password"), users.hash_password("same-password")
    assert a.startswith("scrypt$") and a != b and "same-password" not in a
    assert users.check_password("same-password", a) and not users.check_password("other", a)


def test_every_dashboard_string_has_an_indonesian_translation_and_the_mo_files_are_current() -> None:
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    sys.path.insert(0, str(ROOT))
    from office.web.translations import update

    template = update.extract()
    catalog = update.merged(template, "id")
    assert update.missing(catalog) == []
    for locale in update.LOCALES:
        with update.po_path(locale).with_suffix(".mo").open("rb") as fh:
            mo = read_mo(fh)
        with update.po_path(locale).open("rb") as fh:
            po = read_po(fh, locale=locale)
        def key(m: Any) -> Any:
            return tuple(m.id) if isinstance(m.id, list | tuple) else m.id

        def text(m: Any) -> Any:
            return tuple(m.string) if isinstance(m.string, list | tuple) else m.string

        assert {key(m) for m in po if m.id} == {key(m) for m in template if m.id}, f"{locale}: run the update script"
        if locale == "id":
            assert {key(m): text(m) for m in mo if m.id} == {key(m): text(m) for m in po if m.id}


def test_timeline_merges_events_power_changes_refusals_and_commands(tmp_path: Path) -> None:
    from office import db as office_db
    from office import records

    _config, engine = _engine(tmp_path)
    now = utc_now()
    iso = (lambda t: t.isoformat().replace("+00:00", "Z"))  # noqa: E731
    with engine.begin() as conn:
        conn.execute(tdb.status_history.insert(), [
            {"station": "kph-01", "ts": iso(now - timedelta(minutes=m)), "battery_percent": 80.0,
             "on_mains": m > 5} for m in range(10, 0, -1)])
        conn.execute(tdb.station_events.insert().values(
            station="kph-01", district="6106", ts=iso(now), type="device_fault", severity="error",
            detail_json='{"device": "camera"}', received_at=now))
        conn.execute(office_db.quarantine.insert().values(
            upload_id="u1", packet_id="0190aaaa-0000-7000-8000-000000000000", station_id="kph-01",
            reason="bad signature", path="/x", at=now))
    items = records.timeline(engine, "kph-01", [])
    kinds = [(i.kind, i.title) for i in items]
    assert ("event", "mains_lost") in kinds and ("event", "device_fault") in kinds
    assert ("rejected", "0190aaaa-0000-7000-8000-000000000000") in kinds
    assert [i.at for i in items] == sorted((i.at for i in items), reverse=True)
