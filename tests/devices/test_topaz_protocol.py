"""The pure Topaz decoder: bytes in, points out; resync on garbage; fuzzed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from device_drivers.signature_pad.protocol import PenPoint, TopazDecoder, decode_packet, encode_packet


def test_hand_built_packet_decodes():
    # X = 1234 = 0b1001_1010010: low 7 bits 0x52, high 5 bits 0x09; Y = 700 = 0b101_0111100: 0x3C and 0x05.
    packet = bytes([0xC1, 0x52, 0x09, 0x3C, 0x05])
    assert TopazDecoder().feed(packet) == [PenPoint(1234, 700, 1, True, 0.0)]
    assert encode_packet(1234, 700, True) == packet


def test_pen_up_bit_and_pressure():
    (p,) = TopazDecoder().feed(bytes([0xC0, 0x52, 0x09, 0x3C, 0x05]))
    assert (p.pen_down, p.pressure) == (False, 0)


def test_out_of_range_marker_is_discarded_and_counted():
    dec = TopazDecoder()
    data = encode_packet(0x0FFF, 0x0FFF, False, proximity=False) + encode_packet(600, 400, True)
    assert [(p.x, p.y) for p in dec.feed(data)] == [(600, 400)]
    assert dec.out_of_range == 1
    # Only X = Y = 0x0FFF is the marker: one axis at 4095 is a real (edge) coordinate.
    assert decode_packet(encode_packet(0x0FFF, 500, True)) is not None


def test_packet_split_across_feeds_at_every_position():
    data = encode_packet(1000, 500, True) + encode_packet(1001, 501, True)
    for cut in range(len(data) + 1):
        dec = TopazDecoder()
        points = dec.feed(data[:cut], t=1.0) + dec.feed(data[cut:], t=2.0)
        assert [(p.x, p.y) for p in points] == [(1000, 500), (1001, 501)], cut


def test_byte_by_byte_feeding_and_timestamps():
    dec = TopazDecoder()
    out = []
    for i, b in enumerate(encode_packet(800, 600, True)):
        out += dec.feed(bytes([b]), t=float(i))
    assert out == [PenPoint(800, 600, 1, True, 4.0)]


def test_resync_on_start_byte_drops_the_cut_packet():
    dec = TopazDecoder()
    good = encode_packet(900, 450, True)
    data = b"\x01\x02" + good[:3] + good + encode_packet(901, 451, False)
    points = dec.feed(data)
    assert [(p.x, p.y, p.pen_down) for p in points] == [(900, 450, True), (901, 451, False)]
    assert dec.skipped_bytes == 2 and dec.dropped_packets == 1


def test_high_bits_that_must_be_zero_reject_the_packet():
    dec = TopazDecoder()
    bad = bytes([0xC1, 0x10, 0x60 | 0x05, 0x10, 0x02])  # byte 2 has bits 5-6 set: not a valid X high part
    assert dec.feed(bad + encode_packet(700, 700, True)) == [PenPoint(700, 700, 1, True, 0.0)]
    assert dec.dropped_packets == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_fuzz_garbage_never_raises_and_valid_packet_after_garbage_is_found(garbage, cuts):
    dec = TopazDecoder()
    stream = garbage + encode_packet(1500, 640, True)
    bounds = sorted({c for c in cuts if c < len(stream)})
    points = []
    start = 0
    for cut in [*bounds, len(stream)]:
        points += dec.feed(stream[start:cut])
        start = cut
    assert all(0 <= p.x <= 4095 and 0 <= p.y <= 4095 for p in points)
    assert points[-1] == PenPoint(1500, 640, 1, True, 0.0)
    assert dec.pending_bytes == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4094), st.integers(0, 4094), st.booleans()), max_size=50))
def test_fuzz_roundtrip(samples):
    data = b"".join(encode_packet(x, y, d) for x, y, d in samples)
    assert [(p.x, p.y, p.pen_down) for p in TopazDecoder().feed(data)] == samples
