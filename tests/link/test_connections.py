"""One connection, not one per request: keep-alive across HEAD/PATCH/GET and packets, and TLS session resumption
when a cut forces a new connection."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from pathlib import Path

import pytest
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from link_office import Office, open_outbox, queue_packets, running_office
from proxy import ThrottlingProxy

from station.sync import Uploader


@pytest.fixture
def office(tmp_path: Path):
    with running_office(tmp_path / "office") as running:
        yield running


def test_three_packets_go_over_one_connection(office: Office, data_dir: Path) -> None:
    ids = queue_packets(office, data_dir, 3, photo_bytes=300_000)
    proxy = ThrottlingProxy(office.server.port)
    uploader = Uploader(open_outbox(data_dir), office_url=proxy.url, token=office.token, timeout_s=5,
                        office_verify_key=office.keys.verify_key_b64, station_id="kph-01")
    try:
        assert uploader.run_once().acknowledged == ids           # receipt GETs, creates, PATCHes: all on one
    finally:
        proxy.close()
    assert proxy.connections == 1 and uploader.client.connections_opened == 1


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "office.pem", directory / "office.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_reconnect_resumes_the_tls_session(office: Office, data_dir: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = wsgi.Server(("127.0.0.1", 0), office.server.app, numthreads=4, timeout=10)
    server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        ids = queue_packets(office, data_dir, 2, photo_bytes=20_000)
        uploader = Uploader(open_outbox(data_dir), office_url=f"https://127.0.0.1:{server.bind_addr[1]}",
                            token=office.token, timeout_s=5, office_verify_key=office.keys.verify_key_b64,
                            station_id="kph-01", ca_file=str(cert))
        outbox = open_outbox(data_dir)
        first = outbox.get(ids[0])
        assert uploader.client.get_receipt(first.packet_id).status == 404      # a first full handshake
        uploader.client.close()                                                  # the link is cut
        assert uploader.run_once().acknowledged == ids
        assert uploader.client.connections_opened == 2 and uploader.client.tls_resumed == 1
    finally:
        server.stop()
