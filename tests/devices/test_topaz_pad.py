"""TopazPad (real pyserial driver) against FakeTopazPad on a real pty."""

from __future__ import annotations

import pytest

from device_drivers.base import Health
from device_drivers.errors import DeviceDisconnected
from device_drivers.signature_pad import (
    SIGLITE_T_S460,
    FakeTopazPad,
    TopazPad,
    assemble_strokes,
    generate_signature,
    normalise_strokes,
)
from device_drivers.signature_pad.emulator import signature_samples
from device_drivers.signature_pad.strokes import ink_length


def truth(samples):
    return [(s.x, s.y, s.pen_down) for s in samples if not s.out_of_range]


def test_driver_sets_8o1_19200_on_the_line(fake_pad, pad):
    assert fake_pad.line_baudrate() == 19200
    assert pad._serial.parity == "O" and pad._serial.stopbits == 1 and pad._serial.bytesize == 8


def test_signature_arrives_point_for_point_with_rising_timestamps(fake_pad, pad):
    sent = fake_pad.sign("Siti Aminah", seed=1, block=False)
    points = list(pad.points(timeout=10, idle_timeout=0.5))
    assert [(p.x, p.y, p.pen_down) for p in points] == truth(sent)
    assert pad.decoder.out_of_range == sum(s.out_of_range for s in sent) > 0
    times = [p.t for p in points]
    assert times == sorted(times) and times[-1] - times[0] > 0.3  # paced at the 8O1 line rate


def test_strokes_match_the_generated_signature(fake_pad, pad):
    fake_pad.sign("Budi Santoso", seed=3, block=False)
    points = list(pad.points(timeout=10, idle_timeout=0.5))
    strokes = assemble_strokes(points)
    expected = generate_signature("Budi Santoso", 3)
    assert [[(p.x, p.y) for p in s] for s in strokes] == [list(s) for s in expected]
    norm = normalise_strokes(strokes)
    assert all(0.0 <= p.x <= 1.0 and 0.0 <= p.y <= 1.0 for s in norm for p in s)
    assert norm[0][0].t == 0.0
    assert ink_length(norm) > 5  # a real signature covers several heights' worth of ink


def test_signatures_are_cursive_not_straight_lines():
    strokes = generate_signature("Siti Aminah", 0)
    word = max(strokes, key=len)
    xs = [x for x, _ in word]
    backtracks = sum(1 for a, b in zip(xs, xs[1:], strict=False) if b < a)
    ys = [y for _, y in word]
    assert backtracks > 5                       # the curve loops back on itself
    assert max(ys) - min(ys) > 0.25 * (SIGLITE_T_S460.y_max - SIGLITE_T_S460.y_min)
    assert len(strokes) >= 3                    # words + flourish: the pen was lifted
    assert generate_signature("Siti Aminah", 0) == strokes          # deterministic
    assert generate_signature("Siti Aminah", 1) != strokes
    assert all(SIGLITE_T_S460.x_min <= x <= SIGLITE_T_S460.x_max for s in strokes for x, _ in s)


def test_noise_fault_resyncs_without_phantom_points(fake_pad, pad):
    fake_pad.inject_fault("noise")
    sent = fake_pad.sign(seed=4, block=False)
    points = list(pad.points(timeout=10, idle_timeout=0.5))
    assert [(p.x, p.y, p.pen_down) for p in points] == truth(sent)
    assert pad.decoder.skipped_bytes > 0


def test_truncated_packet_loses_exactly_one_point(fake_pad, pad):
    fake_pad.inject_fault("truncate")
    sent = fake_pad.sign(seed=5, block=False)
    points = [(p.x, p.y, p.pen_down) for p in pad.points(timeout=10, idle_timeout=0.5)]
    expected = truth(sent)
    assert pad.decoder.dropped_packets == 1
    assert len(points) == len(expected) - 1 and set(points) <= set(expected)


def test_silence_is_not_an_error(fake_pad, pad):
    fake_pad.inject_fault("silence")
    fake_pad.sign(seed=6)
    assert pad.read_points(timeout=0.3) == []
    assert pad.status().health is Health.OK


def test_unplug_gives_typed_error_and_reconnect_recovers(fake_pad, pad):
    fake_pad.inject_fault("unplug")
    with pytest.raises(DeviceDisconnected):
        pad.read_points(timeout=1.0)
    assert pad.status().health is Health.ABSENT
    with pytest.raises(DeviceDisconnected):  # port is gone: reconnect says so, no hang
        pad.reconnect()
    fake_pad.reset()
    pad.reconnect()
    assert pad.status().health is Health.OK
    sent = fake_pad.sign(seed=7, block=False)
    assert [(p.x, p.y, p.pen_down) for p in pad.points(timeout=10, idle_timeout=0.5)] == truth(sent)


def test_probe_notices_unplug_while_idle(fake_pad, pad):
    assert pad.probe().health is Health.OK
    fake_pad.unplug()
    assert pad.probe().health is Health.ABSENT


def test_open_missing_port_is_typed(tmp_path):
    with pytest.raises(DeviceDisconnected) as info:
        TopazPad(str(tmp_path / "nope"))
    assert info.value.port.endswith("nope")


def test_closed_pad_reports_absent_and_close_is_idempotent(tmp_path):
    with FakeTopazPad(link_dir=str(tmp_path)) as fake:
        pad = TopazPad(fake.port)
        pad.close()
        pad.close()
        assert pad.status().health is Health.ABSENT


def test_hover_and_lift_samples_surround_each_stroke():
    samples = signature_samples([[(600, 500), (610, 505)]])
    assert [s.pen_down for s in samples if not s.out_of_range] == [False, False, False, True, True, False]
    assert samples[-1].out_of_range


def test_unknown_fault_is_rejected(fake_pad):
    with pytest.raises(ValueError, match="unknown fault"):
        fake_pad.inject_fault("fire")


def test_probe_notices_fast_unplug_replug_and_reconnect_recovers(fake_pad, pad):
    fake_pad.unplug()
    fake_pad.replug()               # back before anyone looked: same name, new tty
    assert pad.probe().health is Health.ABSENT
    pad.reconnect()
    assert pad.probe().health is Health.OK
    sent = fake_pad.sign(seed=8, block=False)
    assert [(p.x, p.y, p.pen_down) for p in pad.points(timeout=10, idle_timeout=0.5)] == truth(sent)
