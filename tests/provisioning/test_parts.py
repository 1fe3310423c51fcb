"""The parts of provisioning on their own: the office CA, the bundle's inputs, udev rules, harden, --card paths."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from prov_helpers import tree_state

from office import refdata
from office.ca import CertificateError, check_client_certificate, init_ca, load_ca
from office.db import open_db
from provisioning.apply import dump_toml, station_config_dict
from provisioning.harden import HardenError, harden
from provisioning.layout import Layout
from provisioning.sources import SourceError, parse_desa_codes, read_operators, roster_for_desa
from provisioning.udev_rules import UdevRuleError, read_usb_devices, render_rules
from station import keys
from station.cli import main
from station.config import config_from_dict
from station.errors import ConfigError
from station.operators import check_pin_hash


def test_office_init_makes_a_district_ca_and_refuses_to_replace_it(tmp_path: Path, capsys) -> None:
    config = tmp_path / "office.toml"
    config.write_text(f'[office]\ndistrict = "6106"\ndata_dir = "{tmp_path / "data"}"\n'
                      '[provisioning]\nmqtt_host = "mqtt.kapuashulukab.go.id"\n')
    assert main(["office", "init", "--config", str(config)]) == 0
    ca_dir = tmp_path / "data" / "ca"
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in ca_dir.iterdir())
    ca = load_ca(ca_dir)
    assert ca.district == "6106" and ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    broker = x509.load_pem_x509_certificate((ca_dir / "mqtt-broker.pem").read_bytes())
    broker.verify_directly_issued_by(ca.certificate)
    sans = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["mqtt.kapuashulukab.go.id"]
    before = tree_state(ca_dir)
    assert main(["office", "ca-init", "--config", str(config)]) == 1
    assert "refusing to replace the MQTT CA" in capsys.readouterr().err and tree_state(ca_dir) == before


def test_client_certificate_checks(tmp_path: Path) -> None:
    ca = init_ca(tmp_path / "ca", "6106", broker_hosts=["127.0.0.1"])
    issued = ca.issue_client("kph-01", days=30)
    check_client_certificate(issued.cert_pem, ca.cert_pem, station_id="kph-01", district="6106")
    for kwargs, words in ((dict(station_id="kph-02", district="6106"), "not for station"),
                          (dict(station_id="kph-01", district="6102"), "district"),
                          (dict(station_id="kph-01", district="6106", now=datetime.now(UTC) + timedelta(days=31)),
                           "expired")):
        with pytest.raises(CertificateError, match=words):
            check_client_certificate(issued.cert_pem, ca.cert_pem, **kwargs)
    other = init_ca(tmp_path / "other", "6106", broker_hosts=["127.0.0.1"])
    with pytest.raises(CertificateError, match="not issued by the bundled CA"):
        check_client_certificate(issued.cert_pem, other.cert_pem, station_id="kph-01", district="6106")


def test_operators_csv_keeps_only_hashes_and_names_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "ops.csv"
    good.write_text("username,name,role,pin\nsiti,Siti Aminah,operator,1234\n")
    [row] = read_operators(good)
    assert set(row) == {"username", "name", "role", "pin_hash"} and check_pin_hash("1234", row["pin_hash"])
    for text, words in (("username,name,role,pin\nsiti,Siti,operator,12\n", "line 2: PIN"),
                        ("username,name,role,pin\nsiti,Siti,boss,1234\n", "line 2: role"),
                        ("username,name,role,pin\nsiti,A,operator,1234\nsiti,B,operator,5678\n", "twice"),
                        ("username,name,pin\nsiti,Siti,1234\n", "missing column(s) role"),
                        ("username,name,role,pin\n", "no operators")):
        good.write_text(text)
        with pytest.raises(SourceError, match=re.escape(words)):
            read_operators(good)


def test_desa_codes_must_be_in_the_district() -> None:
    assert parse_desa_codes("61.06.01.2002, 61.06.01.2001", "6106") == ["61.06.01.2001", "61.06.01.2002"]
    with pytest.raises(SourceError, match="not in district 6106"):
        parse_desa_codes("61.02.01.2001", "6106")
    with pytest.raises(SourceError, match="not a kode desa"):
        parse_desa_codes("6106012001", "6106")


def test_roster_from_the_office_database_when_it_has_residents(tmp_path: Path) -> None:
    engine = open_db(f"sqlite:///{tmp_path / 'office.db'}")
    with pytest.raises(SourceError, match="--roster"):
        roster_for_desa(engine, ["61.06.01.2001"], None)
    with engine.begin() as conn:
        conn.execute(refdata.residents.insert(), [
            {"nik": "6106014501900001", "nama": "Ani", "tanggal_lahir": "1990-01-05", "jenis_kelamin": "P",
             "kode_desa": "61.06.01.2001", "alamat": "Jl. A", "source": "x"},
            {"nik": "6106010501900002", "nama": "Budi", "tanggal_lahir": "1990-01-05", "jenis_kelamin": "L",
             "kode_desa": "61.06.01.2002", "alamat": "Jl. B", "source": "x"}])
    roster = roster_for_desa(engine, ["61.06.01.2001"], None)
    assert roster.source == "office database" and roster.rows == 1
    assert roster.csv_text.splitlines() == ["nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat",
                                            "6106014501900001,Ani,1990-01-05,P,61.06.01.2001,Jl. A"]
    engine.dispose()


def test_udev_rules_by_serial_and_by_socket(tmp_path: Path) -> None:
    csv_file = tmp_path / "usb.csv"
    csv_file.write_text("role,vendor,product,serial,usb_path\nfingerprint,10C4,ea60,0001,\n"
                        "sigpad,,,,platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.4:1.0\n")
    rules = render_rules(read_usb_devices(csv_file))
    assert ('ENV{ID_VENDOR_ID}=="10c4", ENV{ID_MODEL_ID}=="ea60", ENV{ID_SERIAL_SHORT}=="0001", '
            'SYMLINK+="jemput-fingerprint", OPTIONS+="link_priority=10", GROUP="dialout", MODE="0660"') in rules
    assert 'ENV{ID_PATH}=="platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.4:1.0", SYMLINK+="jemput-sigpad"' in rules
    assert rules.count('SYMLINK+="jemput-printer"') == 2          # not listed: the default socket (Pi 4 and Pi 5)
    assert 'SYMLINK+="jemput-fingerprint"' in rules and rules.count("jemput-fingerprint") == 1
    default = render_rules(None)
    assert all(default.count(f'SYMLINK+="jemput-{n}"') == 2 for n in ("fingerprint", "sigpad", "printer"))
    assert default.splitlines()[2:4] == ['ACTION=="remove", GOTO="jemput_end"', 'SUBSYSTEM!="tty", GOTO="jemput_end"']
    csv_file.write_text('role,vendor,product,serial,usb_path\nprinter,0416,5011,A"B,\n')
    with pytest.raises(UdevRuleError, match="line 2"):
        read_usb_devices(csv_file)


def test_harden_under_a_root_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/fstab").write_text("proc /proc proc defaults 0 0\nPARTUUID=abc-02 / ext4 defaults,noatime 0 1\n")
    out = harden(Layout(root))
    assert any("enable_overlayfs" in line for line in out)
    fstab = (root / "etc/fstab").read_text().splitlines()
    assert fstab[:2] == ["proc /proc proc defaults 0 0", "PARTUUID=abc-02 / ext4 defaults,noatime 0 1"]
    assert fstab[2] == ("LABEL=JEMPUT-DATA /var/lib/jemput ext4 "
                        "defaults,noatime,commit=5,nofail,x-systemd.device-timeout=10s 0 2")
    journald = (root / "etc/systemd/journald.conf.d/50-jemput-volatile.conf").read_text()
    assert "Storage=volatile" in journald and "RuntimeMaxUse=32M" in journald
    dropin = (root / "etc/systemd/system/jemput-station.service.d/50-data-partition.conf").read_text()
    assert "RequiresMountsFor=/var/lib/jemput" in dropin and "ConditionPathIsMountPoint=/var/lib/jemput" in dropin
    before = tree_state(root)
    assert harden(Layout(root))[0] == "already hardened: nothing changed" and tree_state(root) == before
    harden(Layout(root), data_device="PARTUUID=abc-03")
    assert (root / "etc/fstab").read_text().count("/var/lib/jemput") == 1


def test_harden_on_a_live_system_without_the_partition_changes_nothing(monkeypatch) -> None:
    monkeypatch.setattr(Layout, "is_live_system", property(lambda self: True))
    with pytest.raises(HardenError, match="emergency mode"):
        harden(Layout(Path("/nonexistent-root")))


def test_card_layout_names_the_booted_paths(tmp_path: Path) -> None:
    payload = {"station_config": {"station": {"id": "kph-01", "district": "6106"},
                                  "office": {"verify_key": keys.public_key_b64(keys.generate_signing_key())},
                                  "mqtt": {"host": "mqtt.example", "port": 8883, "tls": True}}}
    card = station_config_dict(payload, Layout(tmp_path, card=True))
    assert card["station"]["data_dir"] == "/var/lib/jemput" and card["mqtt"]["cert"].startswith("/var/lib/jemput/")
    here = station_config_dict(payload, Layout(tmp_path))
    assert here["station"]["data_dir"] == str(tmp_path / "var/lib/jemput")
    import tomllib

    assert config_from_dict(tomllib.loads(dump_toml(card))).mqtt.tls is True
    with pytest.raises(ConfigError):
        config_from_dict(tomllib.loads(dump_toml({**card, "station": {"id": "KPH 01", "district": "6106"}})))
