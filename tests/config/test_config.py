from pathlib import Path

import pytest

from station.config import load_config
from station.errors import ConfigError

MINIMAL = '[station]\nid = "kph-01"\ndistrict = "6106"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_fill_every_section(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.ui.host == "127.0.0.1"
    assert config.ui.port == 8080
    assert config.ui.language == "id"
    assert (config.power.warn_percent, config.power.stop_percent, config.power.shutdown_percent) == (20, 10, 5)
    assert config.devices.fingerprint.baudrate == 57600
    assert config.devices.signature_pad.baudrate == 19200
    assert config.station_key_file == Path("/var/lib/jemput/keys/station.key")


def test_nested_device_sections_are_read(tmp_path):
    text = MINIMAL + '[devices.battery]\nkind = "max1704x"\naddress = 0x36\npower_loss_pin = 6\n'
    config = load_config(write(tmp_path, text))
    assert config.devices.battery.kind == "max1704x"
    assert config.devices.battery.address == 0x36
    assert config.devices.battery.power_loss_pin == 6


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[station]\nid = "kph-01"\n', "missing required key 'station.district'"),
        (MINIMAL + "[ui]\nport = \"80\"\n", "key 'ui.port' must be an integer"),
        (MINIMAL + "[ui]\nprot = 80\n", "unknown key 'ui.prot'"),
        (MINIMAL + "[devices.camera]\nbackend = \"webcam\"\n", "devices.camera.backend"),
        (MINIMAL + "[power]\nwarn_percent = 5\n", "key 'power'"),
        ('[station]\nid = "kph-01"\ndistrict = "61"\n', "station.district"),
        (MINIMAL + "[mqtt]\ntls = \"yes\"\n", "key 'mqtt.tls' must be true or false"),
        ("[station\n", "not valid TOML"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_nested_key_named_source_is_a_real_key(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + '[devices.camera]\nsource = "/dev/video2"\n'))
    assert config.devices.camera.source == "/dev/video2"
    assert config.source == tmp_path / "station.toml"
    with pytest.raises(ConfigError, match="unknown key 'source'"):
        load_config(write(tmp_path, 'source = "x"\n' + MINIMAL))


def test_battery_address_defaults_to_the_chips_own(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + '[devices.battery]\nkind = "max1704x"\n'))
    assert config.devices.battery.address is None
    assert config.devices.battery.power_loss_active_high is True


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_token_read_from_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    config = load_config(write(tmp_path, MINIMAL + f'[office]\ntoken = "@{token_file}"\n'))
    assert config.office_token() == "s3cret"


def test_office_config_rejects_source_as_a_key(tmp_path):
    from office.config import load_office_config

    path = tmp_path / "office.toml"
    path.write_text('source = "x"\n[office]\ndistrict = "6106"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'source'"):
        load_office_config(path)
    path.write_text('[office]\ndistrict = "6106"\n', encoding="utf-8")
    assert load_office_config(path).source == path
