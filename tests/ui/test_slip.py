"""The resident's slip, read back from the emulated printer's bytes: the fields, a QR whose signature verifies with
the station key (and not once altered), the QR as drawn on paper still scans, and the office's verify-slip."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import pytest

from device_drivers.printer.render import render_slip
from office import db, stations
from station import keys
from station.cli import main
from station.record_codes import code_for, derive_code, normalise_code
from station.roster import find_by_nik
from station.sessions import current_session, open_session
from station.slips import InvalidSlip, SlipPrinter, mask_nik, verify_payload


def add_record(station: Any, nik: str, packet_id: str = "0190c0de-0000-7000-8000-000000000001") -> str:
    """An outbox row for a finished record (the slip needs the row, not the packet file)."""
    from station.operators import list_operators

    with station.db_lock:
        sess = current_session(station.conn) or open_session(station.conn, station.demo.villages[0],
                                                             list_operators(station.conn)[0])
        station.outbox.insert_sealed(station.conn, packet_id=packet_id, nik=nik, session_id=sess.id,
                                     size_bytes=640_000, sha256="0" * 64,
                                     created_at=datetime(2026, 12, 3, 5, 7, tzinfo=UTC))
    return packet_id


def station_key(station: Any):  # noqa: ANN201
    public = keys.public_key_b64(station.signing_key.public_key())
    return lambda sid: keys.load_verify_key(public) if sid == station.config.station.id else None


def test_slip_carries_the_fields_and_a_qr_signed_by_the_station(station: Any) -> None:
    nik = station.demo.sample_niks[0]
    packet_id = add_record(station, nik)
    slips = SlipPrinter(station)
    assert slips.available
    outcome = slips.print_slip(packet_id)
    assert outcome.ok and outcome.copies == 1
    emulator = station.devices._fake_printer
    assert emulator.wait_for_slips(1)
    slip = emulator.last_slip
    text = slip.text
    with station.db_lock:
        resident = find_by_nik(station.conn, nik)
        code = code_for(station.conn, packet_id)
    local = datetime(2026, 12, 3, 5, 7, tzinfo=UTC).astimezone().strftime("%d-%m-%Y %H:%M")
    for expected in ("BUKTI PEREKAMAN", "Kabupaten Kapuas Hulu", "Stasiun: kph-01", f"Tanggal: {local}",
                     "Desa: Putussibau Kota", f"Nama: {resident.nama}", f"NIK: {mask_nik(nik)}", code):
        assert expected in text, f"{expected!r} not on the slip:\n{text}"
    assert mask_nik(nik) == nik[:6] + "******" + nik[12:] and nik not in text  # the full NIK is never printed
    assert code == derive_code(packet_id) and normalise_code(code.lower().replace("-", "")) == code
    assert len(slip.rasters) == 1 and slip.cut

    [payload] = slip.qr_payloads
    claim = verify_payload(payload, station_key(station))
    assert (claim.station, claim.packet_id, claim.code, claim.masked_nik) == ("kph-01", packet_id, code,
                                                                             mask_nik(nik))
    assert resident.nama not in payload  # no name in the QR
    for forged in (payload.replace(code, "AAAA-AAAA"), payload.replace(mask_nik(nik), "610601******9999")):
        with pytest.raises(InvalidSlip, match="not genuine"):
            verify_payload(forged, station_key(station))
    with pytest.raises(InvalidSlip, match="unknown station"):
        verify_payload(payload, lambda sid: None)

    # the QR as the printer draws it (module size, error correction from the bytes) scans back to the payload
    paper = render_slip(slip.items)
    scanned, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.resize(paper, None, fx=2, fy=2,
                                                                    interpolation=cv2.INTER_NEAREST))
    assert scanned == payload

    again = slips.print_slip(packet_id)  # a reprint says so on the paper
    assert again.ok and again.copies == 2 and emulator.wait_for_slips(2)
    assert "Cetak ulang" in emulator.last_slip.text


def test_record_codes_never_collide_within_the_station(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "codes.db", isolation_level=None)
    first = code_for(conn, "p-1")
    conn.execute("INSERT INTO record_codes (packet_id, code) VALUES ('p-squatter', ?)", (derive_code("p-2"),))
    second = code_for(conn, "p-2")  # its first candidate is taken: it gets the next one
    assert second == derive_code("p-2", 1) and second != first
    assert code_for(conn, "p-2") == second  # kept


def test_paper_out_is_an_outcome_not_an_error_and_absent_printer_offers_nothing(station: Any) -> None:
    packet_id = add_record(station, station.demo.sample_niks[1])
    slips = SlipPrinter(station)
    station.devices.simulator.printer_paper(loaded=False)
    assert slips.print_slip(packet_id).problem == "paper_out"
    station.devices.simulator.printer_cover(open_=True)
    station.devices.simulator.printer_paper(loaded=True)
    assert slips.print_slip(packet_id).problem == "cover_open"
    station.devices.simulator.printer_cover(open_=False)
    station.devices.simulator.unplug("printer")
    assert slips.print_slip(packet_id).problem == "absent"
    station.devices.simulator.replug("printer")
    assert slips.print_slip(packet_id).ok
    station.devices.printer = None  # no [devices.printer] port configured
    assert not slips.available and slips.print_slip(packet_id).problem == "absent"
    assert slips.print_async(packet_id) is False


def test_office_verify_slip_command(station: Any, tmp_path: Path, capsys: Any) -> None:
    packet_id = add_record(station, station.demo.sample_niks[0])
    SlipPrinter(station).print_slip(packet_id)
    emulator = station.devices._fake_printer
    assert emulator.wait_for_slips(1)
    [payload] = emulator.last_slip.qr_payloads
    office_dir = tmp_path / "office"
    config = tmp_path / "office.toml"
    config.write_text(f'[office]\ndistrict = "6106"\ndata_dir = "{office_dir}"\nport = 0\n')
    assert main(["office", "init", "--config", str(config)]) == 0
    from office.config import load_office_config

    engine = db.open_db(load_office_config(config).database_url)
    stations.register_station(engine, "kph-01", keys.public_key_b64(station.signing_key.public_key()), "6106")
    engine.dispose()
    capsys.readouterr()
    assert main(["office", "verify-slip", "--config", str(config), payload]) == 0
    out = capsys.readouterr().out
    assert "GENUINE slip from station kph-01" in out and packet_id in out and "not yet" in out
    tampered = payload[:-6] + ("AAAAAA" if not payload.endswith("AAAAAA") else "BBBBBB")
    assert main(["office", "verify-slip", "--config", str(config), tampered]) == 1
    assert "NOT GENUINE" in capsys.readouterr().err
