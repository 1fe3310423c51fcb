"""`jemput device check ...` against the emulators, through the real entry point."""

from __future__ import annotations

import os
import stat

from station.cli import main


def run(capsys, *args):
    code = main(["device", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_fingerprint_simulated_saves_private_png(capsys, tmp_path):
    out_file = tmp_path / "finger.png"
    code, out, err = run(capsys, "check", "fingerprint", "--simulate", "--no-sim-pace", "--out", str(out_file))
    assert code == 0, err
    assert "library_size: 1000" in out and "packet_size: 128" in out and "image: 256x288" in out
    assert out_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(os.stat(out_file).st_mode) == 0o600 and "biometric" in err


def test_check_sigpad_simulated_prints_strokes(capsys):
    code, out, err = run(capsys, "check", "sigpad", "--simulate", "--seconds", "3")
    assert code == 0, err
    assert "strokes: 6" in out and "out-of-range" in out and "stroke 1:" in out


def test_check_camera_simulated(capsys, tmp_path):
    code, out, err = run(capsys, "check", "camera", "--simulate", "--out", str(tmp_path / "f.jpg"))
    assert code == 0, err
    assert "frame: 640x480" in out and (tmp_path / "f.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_check_battery_each_kind_simulated(capsys):
    code, out, _ = run(capsys, "check", "battery", "--kind", "ina219", "--bus", "1", "--address", "0x42",
                       "--simulate")
    # fake pack at 7.62 V: (7.62 - 6.0) / 2.4 * 100 = 67.5 %
    assert code == 0 and "percent: 67.5" in out and "charging: False" in out
    code, out, _ = run(capsys, "check", "battery", "--kind", "max1704x", "--simulate")
    assert code == 0 and "percent: 71.4" in out and "on_mains: unknown" in out
    code, out, _ = run(capsys, "check", "battery", "--kind", "pisugar", "--simulate")
    assert code == 0 and "percent: 63.1" in out and "on_mains: True" in out


def test_missing_port_is_a_clear_error_not_a_traceback(capsys, tmp_path):
    code, _, err = run(capsys, "check", "sigpad", "--port", str(tmp_path / "nope"), "--seconds", "1")
    assert code == 1
    assert "Papan tanda tangan tidak terhubung / Signature pad is not connected" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "check", "battery", "--kind", "ina219", "--bus", "97")
    assert code == 1 and "cannot open I2C bus 97" in err


def test_usage_errors(capsys):
    code, _, err = run(capsys, "check", "sigpad")
    assert code == 2 and "--port is required" in err
    code, _, err = run(capsys, "check", "battery", "--kind", "ina219", "--address", "forty")
    assert code == 2 and "not a number" in err


def test_device_status_from_config(capsys, tmp_path):
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nid = "t-01"\ndistrict = "6106"\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    code, out, err = run(capsys, "status", "--config", str(cfg), "--simulate")
    assert code == 0, err
    assert "fingerprint: ok" in out and "signature_pad: ok" in out and "battery: ok" in out


def test_check_printer_simulated_and_missing(capsys, tmp_path):
    code, out, err = run(capsys, "check", "printer", "--simulate")
    assert code == 0, err
    assert "paper out: False" in out and "emulator printed: JEMPUT: TES PRINTER / JEMPUT TEST" in out
    code, _, err = run(capsys, "check", "printer", "--port", str(tmp_path / "nope"))
    assert code == 1 and "Printer tidak terhubung / Printer is not connected" in err and "Traceback" not in err
