"""The production broker set-up: TLS with client certificates, CN = station id, ACL by identity."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from link_broker import Broker, free_port, wait_for
from link_helpers import snapshot, station_config_dict
from paho.mqtt.enums import CallbackAPIVersion

from office.config import office_config_from_dict
from office.db import open_db
from office.ingest import Ingest, latest_status
from office.mosquitto import OFFICE_USER, TlsFiles
from station.config import config_from_dict
from station.events import EventBus
from station.telemetry import Telemetry


def _cert(name: str, issuer_key, issuer_name, key, *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key) -> tuple[Path, Path]:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    path.with_suffix(".key").chmod(0o600)
    return path.with_suffix(".pem"), path.with_suffix(".key")


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """A CA, a broker certificate for 127.0.0.1 and client certificates whose CN is the user name."""
    d = tmp_path / "pki"
    d.mkdir()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Jemput test CA", ca_key, None, ca_key, ca=True)
    out = {"ca": _write(d / "ca", ca, ca_key)}
    for name in ("broker", "kph-01", "kph-02", OFFICE_USER):
        key = ec.generate_private_key(ec.SECP256R1())
        out[name] = _write(d / name, _cert(name, ca_key, ca.subject, key, server=name == "broker"), key)
    return out


@pytest.fixture
def tls_broker(tmp_path: Path, pki) -> Broker:
    broker = Broker(tmp_path / "broker", tls=TlsFiles(pki["ca"][0], *pki["broker"]))
    broker.start()
    yield broker
    broker.stop()


def _client(port: int, pki, name: str | None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{free_port()}", protocol=mqtt.MQTTv5)
    certfile, keyfile = pki[name] if name else (None, None)
    c.tls_set(ca_certs=str(pki["ca"][0]), certfile=str(certfile) if certfile else None,
              keyfile=str(keyfile) if keyfile else None)
    return c


def test_station_and_office_over_tls_with_identity_acl(tls_broker: Broker, pki, tmp_path: Path) -> None:
    office_cfg = office_config_from_dict({
        "office": {"district": "6106", "data_dir": str(tmp_path / "office")},
        "mqtt": {"host": "127.0.0.1", "port": tls_broker.port, "tls": True, "ca": str(pki["ca"][0]),
                 "cert": str(pki[OFFICE_USER][0]), "key": str(pki[OFFICE_USER][1]), "keepalive": 2}})
    ingest = Ingest(office_cfg, open_db(f"sqlite:///{tmp_path / 'office.db'}"))
    ingest.start()
    raw = station_config_dict(tls_broker.port, tmp_path / "station")
    raw["mqtt"].update(tls=True, ca=str(pki["ca"][0]), cert=str(pki["kph-01"][0]), key=str(pki["kph-01"][1]))
    tel = Telemetry(config_from_dict(raw), station_snapshot=snapshot, bus=EventBus(), office_verify_key=None,
                    on_command=None)
    tel.start()
    try:
        assert ingest.wait_connected(10) and tel.wait_connected(10)
        wait_for(lambda: (latest_status(ingest.engine, "kph-01") or {}).get("status"), 10, what="status over TLS")
        # kph-02's certificate cannot speak for kph-01; its own prefix works
        other = _client(tls_broker.port, pki, "kph-02")
        other.connect("127.0.0.1", tls_broker.port, keepalive=5)
        other.loop_start()
        wait_for(other.is_connected, 5)
        other.publish("jemput/v1/6106/kph-01/state", "offline", qos=1, retain=True).wait_for_publish(5)
        other.publish("jemput/v1/6106/kph-02/state", "online", qos=1, retain=True).wait_for_publish(5)
        wait_for(lambda: (latest_status(ingest.engine, "kph-02") or {}).get("state") == "online", 5)
        assert latest_status(ingest.engine, "kph-01")["state"] == "online"
        other.disconnect()
        other.loop_stop()
        # no client certificate: the TLS handshake or the connection is refused
        anonymous = _client(tls_broker.port, pki, None)
        try:
            anonymous.connect("127.0.0.1", tls_broker.port, keepalive=5)
            anonymous.loop_start()
            connected = any(anonymous.is_connected() or time.sleep(0.1) for _ in range(20))
        except (ssl.SSLError, OSError):   # TLS 1.2 refuses in the handshake, 1.3 right after it
            connected = False
        anonymous.loop_stop()
        assert not connected
    finally:
        tel.stop()
        ingest.stop()
