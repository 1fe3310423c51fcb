"""ESC/POS bytes in and out: the builders against the command reference, the decoder on split streams, and the
driver against the emulator on a real pty (paper out, cover open, unplugged)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_drivers.errors import DeviceDisconnected
from device_drivers.printer import CoverOpen, EscPosPrinter, FakeEscPosPrinter, PaperOut
from device_drivers.printer import protocol as p


def test_qr_bytes_follow_the_gs_paren_k_sequence():
    # model 2, module size, error correction, store (pL pH = len + 3), print: the Epson reference sequence
    assert p.qr_code("1234", module_dots=3, ec=p.QrErrorCorrection.L) == (
        b"\x1d(k\x04\x001A2\x00" b"\x1d(k\x03\x001C\x03" b"\x1d(k\x03\x001E0" b"\x1d(k\x07\x001P01234"
        b"\x1d(k\x03\x001Q0")


def test_raster_header_and_bits():
    bits = np.zeros((2, 10), dtype=bool)
    bits[0, 0] = bits[1, 9] = True
    # GS v 0 m xL xH yL yH: 2 bytes per row, 2 rows; MSB is the leftmost dot
    assert p.raster_image(bits) == b"\x1dv0\x00\x02\x00\x02\x00" + bytes([0x80, 0x00, 0x00, 0x40])


def test_status_bytes_decode_paper_and_cover():
    ready = p.decode_status(0x12, 0x12, 0x12)
    assert ready.ready and not ready.paper_out
    assert p.decode_status(0x1A, 0x32, 0x72).paper_out  # offline, paper-end stop, paper end sensor
    assert p.decode_status(0x1A, 0x16, 0x12).cover_open
    with pytest.raises(ValueError):
        p.decode_status(0xFF, 0x12, 0x12)
    for kind in (p.StatusKind.PRINTER, p.StatusKind.OFFLINE_CAUSE, p.StatusKind.PAPER_SENSOR):
        assert p.is_status_byte(p.encode_status(kind, p.PrinterState(paper_out=True, cover_open=True)))


def _document() -> bytes:
    bits = np.zeros((8, 16), dtype=bool)
    bits[2:6, 4:12] = True
    return (p.init() + p.align(p.Align.CENTER) + p.bold(True) + p.char_size(2, 2) + p.text_line("BUKTI")
            + p.char_size(1, 1) + p.bold(False) + p.align(p.Align.LEFT) + p.text_line("Nama: Siti Aminah")
            + p.raster_image(bits) + p.qr_code("JS1|x") + p.status_query(p.StatusKind.PAPER_SENSOR)
            + p.feed(2) + p.cut())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_document())), max_size=6))
def test_decoder_gives_the_same_items_however_the_bytes_are_split(cuts):
    data = _document()
    whole = p.EscPosDecoder().feed(data)
    decoder, items, last = p.EscPosDecoder(), [], 0
    for cut in sorted(cuts) + [len(data)]:
        items += decoder.feed(data[last:cut])
        last = cut
    assert items == whole
    lines = [i for i in whole if isinstance(i, p.Line)]
    assert lines[0] == p.Line("BUKTI", p.Align.CENTER, True, (2, 2)) and lines[1].text == "Nama: Siti Aminah"
    assert [i.payload for i in whole if isinstance(i, p.QrCode)] == ["JS1|x"]
    assert [i.size for i in whole if isinstance(i, p.Raster)] == [(16, 8)]
    assert p.StatusQuery(p.StatusKind.PAPER_SENSOR) in whole and isinstance(whole[-1], p.Cut)


def test_text_is_folded_to_what_the_code_page_prints():
    assert p.text_line("Désa Ñangka\x07") == b"Desa Nangka\n"


@pytest.fixture
def printer_pair(tmp_path):
    emulator = FakeEscPosPrinter(pace=False, link_dir=str(tmp_path)).start()
    printer = EscPosPrinter(emulator.port, timeout_s=0.5)
    yield emulator, printer
    printer.close()
    emulator.close()


def test_driver_prints_a_slip_the_emulator_reads_back(printer_pair):
    emulator, printer = printer_pair
    printer.print_document(_document())
    assert emulator.wait_for_slips(1)
    slip = emulator.last_slip
    assert slip.lines == ["BUKTI", "Nama: Siti Aminah"] and slip.qr_payloads == ["JS1|x"] and slip.cut


def test_paper_out_and_cover_open_are_typed_errors_and_nothing_prints(printer_pair):
    emulator, printer = printer_pair
    emulator.run_out_of_paper()
    with pytest.raises(PaperOut):
        printer.print_document(_document())
    assert printer.status().health == "fault" and printer.status().reason == "paper out"
    emulator.load_paper()
    emulator.open_cover()
    with pytest.raises(CoverOpen):
        printer.print_document(_document())
    emulator.close_cover()
    printer.print_document(_document())
    assert emulator.wait_for_slips(1) and len(emulator.slips) == 1


def test_paper_running_out_mid_slip_is_paper_out_so_the_kiosk_offers_a_reprint(printer_pair):
    emulator, printer = printer_pair
    emulator.run_out_of_paper(after_lines=1)
    with pytest.raises(PaperOut):
        printer.print_document(_document())
    assert emulator.slips == []  # the cut never came: no whole slip left the printer


def test_unplugged_printer_is_disconnected_then_works_once_back(printer_pair):
    emulator, printer = printer_pair
    emulator.unplug()
    with pytest.raises(DeviceDisconnected):
        printer.print_document(_document())
    assert printer.status().health == "absent"
    emulator.replug()
    printer.print_document(_document())
    assert emulator.wait_for_slips(1)
