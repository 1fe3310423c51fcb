"""The R30x wire format, tested with bytes alone (no port, no clock)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device_drivers.errors import DeviceError, ProtocolError
from device_drivers.fingerprint import protocol as p


# datasheet vectors ------------------------------------------------------------------------------------------------
def test_command_frames_match_the_datasheet_examples():
    # R503 manual: "Cyan breathing light: Send EF01FFFFFFFF01000735015006000094", GenImg checksum 0x0005.
    aura = p.build_command(p.Instruction.AURA_LED_CONFIG, p.aura_params(p.AuraMode.BREATHING, p.AuraColor.CYAN,
                                                                         0x50, 0))
    assert aura.hex().upper() == "EF01FFFFFFFF01000735015006000094"
    assert p.build_command(p.Instruction.GEN_IMG).hex().upper() == "EF01FFFFFFFF0100030100" + "05"
    assert p.build_command(p.Instruction.READ_SYS_PARA)[-2:] == b"\x00\x13"
    assert p.build_ack(0).hex().upper() == "EF01FFFFFFFF07000300000A"


def test_checksum_is_the_low_16_bits_of_the_sum():
    payload = bytes([0xFF] * 256)
    frame = p.build_frame(p.PacketId.DATA, payload, address=0x12345678)
    expected = (0x02 + 0x01 + 0x02 + 0xFF * 256) & 0xFFFF
    assert frame[-2:] == expected.to_bytes(2, "big")
    assert frame[2:6] == bytes.fromhex("12345678")
    assert frame[7:9] == (256 + 2).to_bytes(2, "big")


def test_payload_too_large_for_a_frame_is_refused():
    with pytest.raises(ValueError):
        p.build_frame(p.PacketId.DATA, bytes(257))


# parser ------------------------------------------------------------------------------------------------------------
def test_parser_finds_frames_split_at_every_byte():
    stream = p.build_ack(0) + b"".join(p.build_data_frames(bytes(range(200)), 64))
    parser = p.FrameParser()
    frames = [item for i in range(len(stream)) for item in parser.feed(stream[i:i + 1])]
    assert [f.pid for f in frames] == [7, 2, 2, 2, 8]
    assert b"".join(f.payload for f in frames[1:]) == bytes(range(200))
    assert parser.pending_bytes == 0


def test_parser_resyncs_after_garbage_and_reports_damaged_frames():
    good = p.build_ack(0x02)
    damaged = bytearray(p.build_ack(0x00))
    damaged[-1] ^= 0xFF
    parser = p.FrameParser()
    items = parser.feed(b"\x00\xef\x13\xef\x01garbage" + bytes(damaged) + b"\xef" + good)
    assert isinstance(items[0], p.FrameError) and "checksum" in items[0].reason
    assert isinstance(items[1], p.Frame) and items[1].code == 0x02
    assert parser.discarded_bytes > 0


def test_false_header_in_noise_does_not_swallow_the_real_frame():
    # EF 01 + address + pid 07 + length 0x0010 in noise: the real ack is eaten as its payload, the checksum
    # fails, and the parser restarts one byte after the false header.
    noise = bytes.fromhex("EF01FFFFFFFF070010")
    good = p.build_ack(0x13, address=0xFFFFFFFF)
    items = p.FrameParser().feed(noise + good + bytes(8))
    frames = [i for i in items if isinstance(i, p.Frame)]
    assert frames and frames[0].code == 0x13


def test_flush_abandons_an_incomplete_head_and_finds_what_follows():
    noise = bytes.fromhex("EF01FFFFFFFF0200FF")  # claims 255 bytes that never come
    good = p.build_ack(0x00)
    parser = p.FrameParser()
    assert parser.feed(noise + good) == []
    assert [f.code for f in parser.flush() if isinstance(f, p.Frame)] == [0x00]
    assert parser.pending_bytes == 0


def test_implausible_headers_are_skipped_at_once():
    parser = p.FrameParser()
    bad_pid = bytes.fromhex("EF01FFFFFFFF0500030000")
    too_long = bytes.fromhex("EF01FFFFFFFF07FFFF")
    frames = parser.feed(bad_pid + too_long + p.build_ack(0x06))
    assert [f.code for f in frames] == [0x06]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([b"\xef", b"\xef\x01", b"\x01",
                                                                           bytes.fromhex("EF01FFFFFFFF07")])),
                        max_size=12),
       chunk=st.integers(min_value=1, max_value=64), code=st.integers(min_value=0, max_value=255))
def test_fuzz_parser_never_raises_and_finds_a_frame_after_garbage(garbage, chunk, code):
    stream = b"".join(garbage)
    valid = p.build_ack(code, b"\xaa\x55")
    parser = p.FrameParser()
    found: list = []
    data = stream + valid
    try:
        for i in range(0, len(data), chunk):
            found += parser.feed(data[i:i + chunk])
        found += parser.flush()
    except ProtocolError:  # the only failure the contract allows (the parser in fact reports, never raises)
        pass
    frames = [f for f in found if isinstance(f, p.Frame)]
    assert any(f.pid == p.PacketId.ACK and f.payload == bytes([code]) + b"\xaa\x55" for f in frames)
    assert parser.pending_bytes == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_parser_random_streams_only_yield_checked_frames(data):
    parser = p.FrameParser()
    items = parser.feed(data) + parser.flush()
    for item in items:
        if isinstance(item, p.Frame):
            rebuilt = p.build_frame(item.pid, item.payload, item.address)
            assert rebuilt in data


# confirmation codes and errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "cls"), [
    (0x01, p.BadPacket), (0x02, p.NoFinger), (0x06, p.ImageTooMessy), (0x07, p.TooFewFeatures),
    (0x13, p.WrongPassword), (0x15, p.NoValidImage), (0xFC, p.UnsupportedCommand), (0x1A, p.InvalidSetting),
    (0x77, p.ConfirmationError),
])
def test_every_code_maps_to_a_typed_error_carrying_it(code, cls):
    err = p.error_for_code(code, port="/dev/ttyAMA0", expected="an image")
    assert type(err) is cls and isinstance(err, DeviceError)
    assert err.code == code and err.port == "/dev/ttyAMA0"
    assert f"0x{code:02X}" in str(err) and "expected an image" in str(err)


def test_codes_have_human_messages():
    assert "no finger" in p.ConfirmationCode.NO_FINGER.message
    assert all(c.message for c in p.ConfirmationCode)
    assert "unknown" in p.describe_code(0x77)


# payload layouts ---------------------------------------------------------------------------------------------------
def test_system_parameters_decode_to_bytes_and_bits_per_second():
    raw = bytes.fromhex("0004" "0009" "03E8" "0003" "FFFFFFFF" "0002" "0006")
    params = p.decode_system_parameters(raw)
    assert params == {"status": 4, "system_id": 9, "library_size": 1000, "security_level": 3,
                      "address": 0xFFFFFFFF, "packet_size": 128, "baudrate": 57600}
    assert p.encode_system_parameters(status=4, system_id=9, library_size=1000, security_level=3,
                                      address=0xFFFFFFFF, packet_size_bytes=128, baudrate=57600) == raw
    with pytest.raises(ValueError):
        p.decode_system_parameters(raw[:10])
    with pytest.raises(ValueError):
        p.decode_system_parameters(raw[:12] + b"\x00\x07" + raw[14:])


def test_product_info_round_trip():
    info = p.ProductInfo("R503", "B001", "12345678", "1.2", "FPC1021", 192, 192, 1536, 200)
    raw = p.encode_product_info(info)
    assert len(raw) == p.PRODUCT_INFO_BYTES == 46
    assert p.decode_product_info(raw) == info


def test_image_packing_keeps_the_high_nibble_left_pixel_first():
    image = np.array([[0x10, 0xF0, 0xFF, 0x00]], dtype=np.uint8)
    assert p.pack_image(image) == bytes([0x1F, 0xF0])
    assert p.unpack_image(bytes([0x1F, 0xF0]), 4, 1).tolist() == [[17, 255, 255, 0]]
    with pytest.raises(ValueError):
        p.unpack_image(bytes(3), 4, 1)
