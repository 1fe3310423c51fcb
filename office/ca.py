"""The office's certificate authority for MQTT: one CA per district, a broker certificate, client certificates.

Mosquitto takes each station's identity from its TLS client certificate (``use_identity_as_username``: the CN is
the station id, DESIGN §7), so whoever holds the CA key decides who may publish as which station. The CA's files
live in ``<data_dir>/ca`` (0600 in a 0700 folder, apart from the records and signing keys, so a broker host can
be given its certificate without going near them) and ``init`` refuses to replace them: a new CA would
lock out every station in the field until each is re-provisioned.

Keys are ECDSA P-256: what Mosquitto (OpenSSL), paho (Python's ssl) and every TLS 1.2 stack accept, and cheap on a
Pi. Certificates carry the district in the subject (``O=Jemput``, ``OU=<district>``) so a bundle for another
district is told apart by its certificate too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from office.config import OfficeConfig
from station import keys
from station.errors import JemputError

CA_KEY_FILE = "mqtt-ca.key"
CA_CERT_FILE = "mqtt-ca.pem"
BROKER_KEY_FILE = "mqtt-broker.key"
BROKER_CERT_FILE = "mqtt-broker.pem"
OFFICE_CLIENT_KEY_FILE = "mqtt-office.key"
OFFICE_CLIENT_CERT_FILE = "mqtt-office.pem"
OFFICE_CLIENT_CN = "jemput-office"
"""The office ingest's MQTT identity (``office.mosquitto.OFFICE_USER``)."""

CA_DAYS = 20 * 365
BROKER_DAYS = 5 * 365
CLOCK_SKEW = timedelta(minutes=5)
"""Certificates start this long before now: a station whose clock is a few minutes behind still connects."""


class CertificateError(JemputError, ValueError):
    """A certificate is missing, expired, not for this station or district, or not issued by our CA."""


@dataclass(frozen=True)
class IssuedCertificate:
    cert_pem: bytes
    key_pem: bytes
    not_after: datetime

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    district: str

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue_client(self, common_name: str, *, days: int, now: datetime | None = None) -> IssuedCertificate:
        """A TLS client certificate whose CN is ``common_name`` (the station id, or the office ingest's name)."""
        return self._issue(common_name, days=days, now=now, usage=ExtendedKeyUsageOID.CLIENT_AUTH, sans=[])

    def issue_server(self, hosts: list[str], *, days: int = BROKER_DAYS,
                     now: datetime | None = None) -> IssuedCertificate:
        """The broker's certificate: every host name and IP address the stations may dial is a SAN."""
        if not hosts:
            raise CertificateError("the broker certificate needs at least one host name or IP address")
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        return self._issue(hosts[0], days=days, now=now, usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)

    def _issue(self, common_name: str, *, days: int, now: datetime | None, usage: x509.ObjectIdentifier,
               sans: list[x509.GeneralName]) -> IssuedCertificate:
        if days < 1:
            raise CertificateError(f"certificate lifetime must be at least 1 day, got {days}")
        now = now or datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(_name(common_name, self.district))
                   .issuer_name(self.certificate.subject)
                   .public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - CLOCK_SKEW)
                   .not_valid_after(now + timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                                content_commitment=False, data_encipherment=False,
                                                key_agreement=True, key_cert_sign=False, crl_sign=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCertificate(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key),
                                 cert.not_valid_after_utc)


def _name(common_name: str, district: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Jemput"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, district),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def init_ca(keys_dir: Path, district: str, *, broker_hosts: list[str],
            now: datetime | None = None) -> CertificateAuthority:
    """Create the CA, the broker certificate and the office ingest's client certificate; refuses to replace any."""
    keys_dir = Path(keys_dir)
    for name in (CA_KEY_FILE, CA_CERT_FILE, BROKER_KEY_FILE, BROKER_CERT_FILE):
        if (keys_dir / name).exists():
            raise keys.KeyFileExists(f"{keys_dir / name}: already exists; refusing to replace the MQTT CA")
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"Jemput MQTT CA {district}", district)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    ca = CertificateAuthority(key, cert, district)
    keys.write_secret_file(keys_dir / CA_KEY_FILE, _key_pem(key), overwrite=False)
    keys.write_secret_file(keys_dir / CA_CERT_FILE, ca.cert_pem, overwrite=False)
    broker = ca.issue_server(broker_hosts, now=now)
    keys.write_secret_file(keys_dir / BROKER_KEY_FILE, broker.key_pem, overwrite=False)
    keys.write_secret_file(keys_dir / BROKER_CERT_FILE, broker.cert_pem, overwrite=False)
    office = ca.issue_client(OFFICE_CLIENT_CN, days=BROKER_DAYS, now=now)
    keys.write_secret_file(keys_dir / OFFICE_CLIENT_KEY_FILE, office.key_pem, overwrite=True)
    keys.write_secret_file(keys_dir / OFFICE_CLIENT_CERT_FILE, office.cert_pem, overwrite=True)
    return ca


def load_ca(keys_dir: Path) -> CertificateAuthority:
    keys_dir = Path(keys_dir)
    try:
        key = serialization.load_pem_private_key((keys_dir / CA_KEY_FILE).read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate((keys_dir / CA_CERT_FILE).read_bytes())
    except FileNotFoundError as exc:
        raise CertificateError(f"{exc.filename}: no MQTT CA; run 'jemput office init' first") from None
    except ValueError as exc:
        raise CertificateError(f"{keys_dir}: MQTT CA files unreadable ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{keys_dir / CA_KEY_FILE}: not an EC key")
    district = _attribute(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    return CertificateAuthority(key, cert, district)


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def check_client_certificate(cert_pem: bytes, ca_pem: bytes, *, station_id: str, district: str,
                             now: datetime | None = None) -> x509.Certificate:
    """What a station checks before it installs its certificate: issued by ``ca_pem``, CN = its id, OU = its
    district, valid now. ``CertificateError`` says which check failed."""
    now = now or datetime.now(UTC)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        raise CertificateError(f"certificate is not PEM X.509 ({exc})") from None
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise CertificateError(f"MQTT certificate was not issued by the bundled CA ({type(exc).__name__})") from None
    cn = _attribute(cert.subject, NameOID.COMMON_NAME)
    if cn != station_id:
        raise CertificateError(f"MQTT certificate is for {cn!r}, not for station {station_id!r}")
    ou = _attribute(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if ou != district:
        raise CertificateError(f"MQTT certificate is for district {ou!r}, not {district!r}")
    for which, c in (("MQTT certificate", cert), ("MQTT CA certificate", ca)):
        if now > c.not_valid_after_utc:
            raise CertificateError(f"{which} expired on {c.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
                                   "build a new bundle at the office")
        if now < c.not_valid_before_utc - CLOCK_SKEW:
            raise CertificateError(f"{which} is valid only from {c.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; "
                                   "is this machine's clock right?")
    return cert


def broker_hosts_of(config: OfficeConfig) -> list[str]:
    """The names the broker certificate must carry: ``[provisioning] broker_hosts``, else ``mqtt_host``, else
    loopback (a one-machine office)."""
    listed = [h.strip() for h in config.provisioning.broker_hosts.split(",") if h.strip()]
    if listed:
        return listed
    return [config.provisioning.mqtt_host] if config.provisioning.mqtt_host else ["localhost", "127.0.0.1"]


def ca_dir(config: OfficeConfig) -> Path:
    return config.office.data_dir / "ca"


def init_office_ca(config: OfficeConfig) -> list[str]:
    """``jemput office init``'s CA step; returns what to tell the operator (paths for the broker's config)."""
    k = ca_dir(config)
    ca = init_ca(k, config.office.district, broker_hosts=broker_hosts_of(config))
    return [
        f"MQTT CA for district {ca.district} written to {k / CA_CERT_FILE} (key {CA_KEY_FILE}, mode 0600).",
        f"Broker certificate for {', '.join(broker_hosts_of(config))}: {k / BROKER_CERT_FILE}, key "
        f"{k / BROKER_KEY_FILE}; the office ingest's client certificate: {k / OFFICE_CLIENT_CERT_FILE}.",
        f"jemput office mosquitto-config --tls --cafile {k / CA_CERT_FILE} --certfile {k / BROKER_CERT_FILE} "
        f"--keyfile {k / BROKER_KEY_FILE} --out /etc/mosquitto/jemput",
    ]
