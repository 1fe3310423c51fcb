"""Every bad config value is one line naming the key and the file, exit 2, at start-up (never a traceback, never
accepted to fail later): station and office, through the real ``jemput`` entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.cli import main

MINIMAL = '[station]\nid = "kph-01"\ndistrict = "6106"\ndata_dir = "{data}"\n'


def _cases(tmp: Path) -> list[tuple[str, str]]:
    empty = tmp / "empty-token"
    empty.write_text("\n")
    return [
        ('[office]\nverify_key = "@@@"\n', "office.verify_key"),
        ('[office]\nverify_key = "AAAA"\n', "office.verify_key"),                  # base64, but not 32 bytes
        ('[office]\npublic_key = "age1garbage"\n', "office.public_key"),
        (f'[office]\ntoken = "@{empty}"\n', "office.token"),
        ('[office]\ntoken = "two words"\n', "office.token"),
        ('[office]\nurl = "disdukcapil.example.go.id"\n', "office.url"),
        ('[mqtt]\nhost = "127.0.0.1"\ntls = true\n', "mqtt.cert"),
        (f'[mqtt]\nhost = "127.0.0.1"\ntls = true\ncert = "{tmp / "no.pem"}"\nkey = "{tmp / "no.key"}"\n',
         "mqtt.cert"),
        ('[mqtt]\nkeepalive = 0\n', "mqtt.keepalive"),
        ('[mqtt]\nstatus_interval_s = 0\n', "mqtt.status_interval_s"),
        ('[station]\nmin_free_mb = -5\n', "station.min_free_mb"),
        ('[station]\nretention_days = -1\n', "station.retention_days"),
        ('[ui]\nidle_logout_s = 0\n', "ui.idle_logout_s"),
        ('[ui]\nhost = ""\n', "ui.host"),
        ('[devices.fingerprint]\nbaudrate = 12345\n', "devices.fingerprint.baudrate"),
        ('[devices.fingerprint]\nmax_attempts = 0\n', "devices.fingerprint.max_attempts"),
        ('[devices.fingerprint]\naddress = -1\n', "devices.fingerprint.address"),
        ('[devices.signature_pad]\nbaudrate = 0\n', "devices.signature_pad.baudrate"),
        ('[devices.camera]\nwidth = 0\n', "devices.camera.width"),
        ('[devices.battery]\naddress = 512\n', "devices.battery.address"),
        ('[devices.battery]\npower_loss_pin = 99\n', "devices.battery.power_loss_pin"),
        ('[devices.battery]\npisugar_port = 0\n', "devices.battery.pisugar_port"),
    ]


def _merge(base: str, extra: str) -> str:
    """``[station]`` additions go into the one [station] table (TOML forbids a table twice)."""
    if extra.startswith("[station]\n"):
        return base + extra.removeprefix("[station]\n")
    return base + extra


@pytest.mark.parametrize("index", range(22))
def test_a_bad_station_config_exits_2_naming_key_and_file(index: int, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cases = _cases(tmp_path)
    assert len(cases) == 22
    text, key = cases[index]
    path = tmp_path / "station.toml"
    path.write_text(_merge(MINIMAL.format(data=tmp_path / "data"), text), encoding="utf-8")
    capsys.readouterr()
    assert main(["station", "run", "--no-frontends", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"'{key}'" in err and str(path) in err, err


OFFICE = '[office]\ndistrict = "6106"\ndata_dir = "{data}"\n'


@pytest.mark.parametrize(("extra", "key"), [
    ('[mqtt]\nhost = "127.0.0.1"\ntls = true\n', "mqtt.cert"),
    ('[mqtt]\nhost = "127.0.0.1"\ntls = true\ncert = "/nonexistent/c.pem"\nkey = "/nonexistent/c.key"\n',
     "mqtt.cert"),
    ('[mqtt]\nkeepalive = 0\n', "mqtt.keepalive"),
    ('upload_expiry_hours = 0\n', "office.upload_expiry_hours"),
    ('host = ""\n', "office.host"),
])
def test_a_bad_office_config_exits_2_naming_key_and_file(extra: str, key: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "office.toml"
    base = OFFICE.format(data=tmp_path / "office")
    path.write_text(base + extra, encoding="utf-8")          # bare keys land in [office], tables after it
    capsys.readouterr()
    assert main(["office", "run", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"'{key}'" in err and str(path) in err, err
