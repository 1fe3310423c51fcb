"""The resident's slip (bukti perekaman): what it says, the signed QR on it, and printing it.

A resident may wait months for the card; the slip is their proof of having been recorded. It carries the
district and station, the date and time, the resident's name and masked NIK (first 6 and last 4 digits), the
short record code and a QR code whose payload is signed with the station's Ed25519 key, so the office can later
tell a genuine slip from a copied-and-edited one (``verify_slip``; ``jemput office verify-slip``).

QR payload (ASCII, ``|``-separated): ``JS1|station|packet_id|code|masked_nik|recorded (YYYYMMDDTHHMMZ)|signature``,
the signature (base64url, no padding) over ``jemput.slip/1`` and the five fields, one per line. No name is in
the QR and the NIK is masked: a slip photographed by someone else gives away no more than the paper already does.
"""

from __future__ import annotations

import base64
import logging
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)

SCHEMA = "JS1"
SIGNED_PREFIX = b"jemput.slip/1"
LINE_CHARS = 32


class InvalidSlip(ValueError):
    """The QR payload is malformed, names an unknown station, or its signature does not verify."""


@dataclass(frozen=True)
class SlipClaim:
    """What a slip's QR says (and, once verified, what its station signed)."""

    station: str
    packet_id: str
    code: str
    masked_nik: str
    recorded_at: datetime


@dataclass(frozen=True)
class Slip:
    district_name: str
    station_id: str
    desa_name: str
    resident_name: str
    claim: SlipClaim
    qr_payload: str


def mask_nik(nik: str) -> str:
    """``6106015205900001`` -> ``610601******0001``: enough to match a person, not enough to reuse."""
    digits = "".join(ch for ch in nik if ch.isdigit())
    if len(digits) != 16:
        raise ValueError("a NIK has 16 digits")
    return digits[:6] + "*" * 6 + digits[12:]


def _stamp(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def _message(claim: SlipClaim) -> bytes:
    fields = (claim.station, claim.packet_id, claim.code, claim.masked_nik, _stamp(claim.recorded_at))
    return b"\n".join([SIGNED_PREFIX, *(f.encode("ascii") for f in fields)])


def sign_claim(claim: SlipClaim, key: Ed25519PrivateKey) -> str:
    """The QR payload for ``claim``."""
    for value in (claim.station, claim.packet_id, claim.code, claim.masked_nik):
        if "|" in value or not value.isascii():
            raise ValueError(f"slip field {value!r} must be ASCII without '|'")
    signature = base64.urlsafe_b64encode(key.sign(_message(claim))).rstrip(b"=").decode("ascii")
    return "|".join([SCHEMA, claim.station, claim.packet_id, claim.code, claim.masked_nik,
                     _stamp(claim.recorded_at), signature])


def parse_payload(payload: str) -> tuple[SlipClaim, bytes]:
    """The claim and signature in a QR payload (not yet verified)."""
    parts = payload.strip().split("|")
    if len(parts) != 7 or parts[0] != SCHEMA:
        raise InvalidSlip("not a Jemput slip code (expected JS1|station|packet|code|nik|time|signature)")
    _, station, packet_id, code, masked, stamp, sig_text = parts
    try:
        recorded = datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidSlip(f"bad time {stamp!r} on the slip") from exc
    try:
        signature = base64.urlsafe_b64decode(sig_text + "=" * (-len(sig_text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidSlip("the slip's signature is not base64url") from exc
    return SlipClaim(station, packet_id, code, masked, recorded), signature


def verify_payload(payload: str, station_key: Callable[[str], Ed25519PublicKey | None]) -> SlipClaim:
    """The claim if its station is known and signed it; ``InvalidSlip`` saying why not otherwise."""
    claim, signature = parse_payload(payload)
    key = station_key(claim.station)
    if key is None:
        raise InvalidSlip(f"unknown station {claim.station!r}")
    try:
        key.verify(signature, _message(claim))
    except InvalidSignature as exc:
        raise InvalidSlip(f"the signature does not match station {claim.station!r}: the slip is not genuine "
                          "or was altered") from exc
    return claim


# -- the paper ----------------------------------------------------------------------------------------------------

def _card_icon() -> np.ndarray:
    """A small ID-card pictogram for the top of the slip (1-bit, 96x60 dots), sent as a raster image."""
    bits = np.zeros((60, 96), dtype=bool)
    bits[0:4, :] = bits[-4:, :] = True
    bits[:, 0:4] = bits[:, -4:] = True
    yy, xx = np.mgrid[0:60, 0:96]
    bits |= (xx - 26) ** 2 + (yy - 22) ** 2 <= 64  # head
    bits |= ((xx - 26) ** 2 / 256 + (yy - 50) ** 2 / 144 <= 1) & (yy < 54)  # shoulders
    for row in (16, 28, 40):
        bits[row:row + 4, 48:86] = True
    return bits


def _field(label: str, value: str) -> list[str]:
    width = LINE_CHARS - len(label) - 2
    wrapped = textwrap.wrap(value, width) or [""]
    return [f"{label}: {wrapped[0]}", *(" " * (len(label) + 2) + more for more in wrapped[1:])]


def slip_document(slip: Slip, *, printed_at: datetime | None = None) -> bytes:
    """The slip as ESC/POS bytes for a 58 mm printer."""
    from device_drivers.printer import protocol as p

    local = slip.claim.recorded_at.astimezone()
    rows = [
        *_field("Stasiun", slip.station_id),
        *_field("Tanggal", local.strftime("%d-%m-%Y %H:%M")),
        *_field("Desa", slip.desa_name),
        *_field("Nama", slip.resident_name),
        *_field("NIK", slip.claim.masked_nik),
    ]
    out = [p.init(), p.align(p.Align.CENTER), p.raster_image(_card_icon()), p.bold(True), p.char_size(1, 2),
           p.text_line("BUKTI PEREKAMAN"), p.char_size(1, 1), p.text_line("KTP ELEKTRONIK"), p.bold(False)]
    out += [p.text_line("Disdukcapil")]
    out += [p.text_line(line) for line in textwrap.wrap(slip.district_name, LINE_CHARS)]
    out += [p.text_line("-" * LINE_CHARS), p.align(p.Align.LEFT)]
    out += [p.text_line(row) for row in rows]
    out += [p.text_line("-" * LINE_CHARS), p.align(p.Align.CENTER), p.text_line("Kode rekam"), p.bold(True),
            p.char_size(2, 2), p.text_line(slip.claim.code), p.char_size(1, 1), p.bold(False),
            p.qr_code(slip.qr_payload, module_dots=4, ec=p.QrErrorCorrection.M),
            p.text_line("Simpan bukti ini sampai"), p.text_line("KTP-el Anda jadi."),
            p.text_line("Keaslian dapat dicek di kantor"), p.text_line("Disdukcapil (kode QR)."),
            p.feed(3), p.cut()]
    if printed_at is not None:
        out.insert(-2, p.text_line(f"Cetak ulang {printed_at.astimezone().strftime('%d-%m-%Y %H:%M')}"))
    return b"".join(out)


# -- the service --------------------------------------------------------------------------------------------------

PROBLEMS = ("paper_out", "cover_open", "offline", "absent", "not_found")


@dataclass(frozen=True)
class PrintOutcome:
    ok: bool
    problem: str | None = None
    """One of ``PROBLEMS`` when ``ok`` is False."""
    copies: int = 0


class SlipPrinter:
    """Compose, sign and print slips for this station's records; remembers how each record's last print went."""

    def __init__(self, station: Any) -> None:
        self.station = station
        self._outcomes: dict[str, PrintOutcome] = {}
        self._printing: set[str] = set()
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()  # one slip on the paper at a time

    @property
    def available(self) -> bool:
        """A printer is configured (or emulated): only then does the kiosk offer a slip at all."""
        return self._printer() is not None

    def _printer(self) -> Any:
        return getattr(getattr(self.station, "devices", None), "printer", None)

    def outcome(self, packet_id: str) -> PrintOutcome | None:
        return self._outcomes.get(packet_id)

    def printing(self, packet_id: str) -> bool:
        return packet_id in self._printing

    def print_async(self, packet_id: str, *, operator: str = "kiosk") -> bool:
        """Start printing in the background (the done screen shows at once and follows ``slip.*`` events);
        False when there is no printer or this slip is already being printed."""
        if not self.available:
            return False
        with self._lock:
            if packet_id in self._printing:
                return False
            self._printing.add(packet_id)

        def run() -> None:
            try:
                self.print_slip(packet_id, operator=operator)
            except Exception:  # noqa: BLE001 - a slip must never take the kiosk down
                log.exception("printing the slip for %s failed", packet_id)
            finally:
                with self._lock:
                    self._printing.discard(packet_id)

        threading.Thread(target=run, name="slip-print", daemon=True).start()
        return True

    def compose(self, packet_id: str) -> Slip | None:
        """The slip for one of this station's records (None if it is not in the outbox)."""
        from station.record_codes import code_for
        from station.roster import find_by_nik
        from station.sessions import get_session
        from station.wilayah_names import label

        st = self.station
        with st.db_lock:
            item = st.outbox.get(packet_id)
            if item is None:
                return None
            resident = find_by_nik(st.conn, item.nik)
            session = get_session(st.conn, item.session_id) if item.session_id else None
            code = code_for(st.conn, packet_id)
        kode_desa = session.kode_desa if session else (resident.kode_desa if resident else "")
        claim = SlipClaim(st.config.station.id, packet_id, code, mask_nik(item.nik), item.created_at)
        return Slip(district_name=label(st.config.station.district), station_id=st.config.station.id,
                    desa_name=label(kode_desa) if kode_desa else "-",
                    resident_name=resident.nama if resident else "-", claim=claim,
                    qr_payload=sign_claim(claim, st.signing_key))

    def print_slip(self, packet_id: str, *, operator: str = "kiosk") -> PrintOutcome:
        """Print (or reprint) the slip; never raises for a printer problem: the outcome says what to tell."""
        from device_drivers.errors import DeviceDisconnected, DeviceError
        from device_drivers.printer import CoverOpen, PaperOut
        from station.audit import append_audit

        printer = self._printer()
        if printer is None:
            return PrintOutcome(False, "absent")
        slip = self.compose(packet_id)
        if slip is None:
            return PrintOutcome(False, "not_found")
        previous = self._outcomes.get(packet_id)
        copies = previous.copies if previous else 0
        reprint = datetime.now(UTC) if copies else None
        try:
            with self._one_at_a_time:
                printer.print_document(slip_document(slip, printed_at=reprint))
        except PaperOut:
            outcome = PrintOutcome(False, "paper_out", copies)
        except CoverOpen:
            outcome = PrintOutcome(False, "cover_open", copies)
        except DeviceDisconnected:
            outcome = PrintOutcome(False, "absent", copies)
        except DeviceError as exc:
            log.warning("slip for %s not printed: %s", packet_id, exc)
            outcome = PrintOutcome(False, "offline", copies)
        else:
            outcome = PrintOutcome(True, None, copies + 1)
        with self._lock:
            self._outcomes[packet_id] = outcome
        with self.station.db_lock:
            append_audit(self.station.conn, operator, "slip.print",
                         {"packet_id": packet_id, "ok": outcome.ok, "problem": outcome.problem or "",
                          "copy": outcome.copies})
        self.station.bus.publish("slip.printed" if outcome.ok else "slip.failed", packet_id=packet_id,
                                 problem=outcome.problem or "")
        return outcome
