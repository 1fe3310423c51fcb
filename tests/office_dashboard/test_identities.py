"""DESIGN §5: two office identities. The online office (records identity) reads manifests and nothing else."""

from __future__ import annotations

import pytest

from office.keys import BIOMETRICS_IDENTITY_FILE, load_office_keys
from office.record_index import records
from office.server import OfficeServer
from station import keys, packets
from station.config import config_from_dict
from station.enrollment import StartRefused
from station.errors import ConfigError
from station.runtime import build_station, init_station
from tests.office_dashboard.rig import index_all, office_with_stations, resident


def test_the_online_office_cannot_open_a_photo_finger_or_signature_part(tmp_path):
    with office_with_stations(tmp_path) as (office, rigs):
        packet_id = rigs["kph-01"].record_and_upload(resident("61.06.17.2001", 1))
        data = rigs["kph-01"].packet_bytes(packet_id)
        station_key = office.station_keys["kph-01"].public_key()
        # What the running office loads from its keys dir: records identity only, never the biometrics one.
        online = load_office_keys(office.config.keys_dir)
        assert online.biometrics_identity is None and online.age_identity
        assert isinstance(office.server, OfficeServer)
        envelope, manifest = packets.open_manifest(data, online.age_identity, station_key)
        assert manifest["resident"]["nik"] == resident("61.06.17.2001", 1).nik
        biometric = [p.name for p in envelope.parts if p.name != packets.MANIFEST_PART]
        assert {"photo.jpg.age", "signature.json.age", "signature.png.age"} <= set(biometric)
        assert sum(name.startswith("fingers/") for name in biometric) == 10
        entries = packets._read_zip(data)
        online_identity = keys.parse_age_identity(online.age_identity)
        for name in biometric:
            with pytest.raises(packets.PacketError, match="wrong office key"):
                packets._decrypt(name, entries[name], online_identity)
        with pytest.raises(packets.PacketError, match="wrong office key"):
            packets.open_packet(data, online.age_identity, station_key)
        # The biometrics identity (kept off the online office) opens everything, manifest included.
        bio_secret = keys.load_age_identity(office.config.keys_dir / BIOMETRICS_IDENTITY_FILE)
        opened = packets.open_packet(data, bio_secret, station_key)
        assert opened.files["photo.jpg"] == rigs["kph-01"].payloads[packet_id].photo
        # And the dashboard's index counted the record from the manifest alone.
        assert index_all(office) == 1
        with office.engine.connect() as conn:
            row = conn.execute(records.select()).mappings().one()
        assert row["status"] == "verified" and row["nik"] == manifest["resident"]["nik"]


def test_station_refuses_to_record_without_the_biometrics_key(tmp_path):
    secret, recipient = keys.generate_age_identity()
    config = config_from_dict({"station": {"id": "kph-09", "district": "6106", "data_dir": str(tmp_path / "d")},
                               "office": {"public_key": recipient}})
    init_station(config)
    station = build_station(config, builders={})
    try:
        from tests.enrollment.helpers import ensure_operator, ensure_session
        operator = ensure_operator(station.conn)
        session_id = ensure_session(station.conn, operator)
        with pytest.raises(StartRefused, match="office.biometrics_key is not set") as refused:
            station.enrollment.start(session_id, resident("61.06.01.2001", 3), operator)
        assert refused.value.kind == "not_provisioned"
    finally:
        station.stop()
    with pytest.raises(ConfigError, match="office.biometrics_key"):
        config_from_dict({"station": {"id": "kph-09", "district": "6106", "data_dir": str(tmp_path / "d")},
                          "office": {"public_key": recipient, "biometrics_key": recipient}})
    with pytest.raises(ConfigError, match="office.biometrics_key"):
        config_from_dict({"station": {"id": "kph-09", "district": "6106", "data_dir": str(tmp_path / "d")},
                          "office": {"public_key": recipient, "biometrics_key": "AGE-SECRET-KEY-1X"}})
    assert secret


def test_an_office_from_before_the_split_still_loads(tmp_path):
    keys_dir = tmp_path / "keys"
    secret, recipient = keys.generate_age_identity()
    keys.write_secret_file(keys_dir / "office.age", f"{secret}\n".encode())
    keys.save_private_key(keys.generate_signing_key(), keys_dir / "office-signing.key")
    loaded = load_office_keys(keys_dir)
    assert loaded.recipient == loaded.biometrics_recipient == recipient and loaded.single_identity
