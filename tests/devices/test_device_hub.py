"""DeviceHub: simulated devices through the real drivers; health, events, reconnect, error translation."""

from __future__ import annotations

import pytest

from device_drivers.battery import FakePiSugarServer
from device_drivers.signature_pad import FakeTopazPad, assemble_strokes
from station.config import config_from_dict
from station.devices import DeviceHub, DeviceUnavailable
from station.errors import JemputError
from station.events import EventBus
from station.power import PowerLevel, PowerPolicy


def make_config(tmp_path, **devices):
    return config_from_dict({"station": {"id": "t-01", "district": "6106", "data_dir": str(tmp_path / "d")},
                             "devices": devices})


def events(sub):
    out = []
    while (e := sub.get(timeout_s=0)) is not None:
        out.append((e.topic, e.data["health"]))
    return out


@pytest.fixture
def sim_hub(tmp_path):
    bus = EventBus()
    hub = DeviceHub(make_config(tmp_path), bus, simulate=True, pace=False, monitor_interval_s=0.1)
    yield hub, bus
    hub.stop()


def test_simulated_hub_starts_healthy_and_captures_through_real_drivers(sim_hub):
    hub, _ = sim_hub
    assert {name: info["health"] for name, info in hub.health().items()} == {
        "camera": "ok", "fingerprint": "ok", "signature_pad": "ok", "battery": "ok"}
    hub.simulator.place_finger("good")
    with hub.fingerprint() as sensor:
        image = sensor.capture_image(timeout=5)
    assert image.shape == (288, 256)
    hub.simulator.sign()
    strokes = assemble_strokes(hub.signature_pad.collect(1.0))
    assert len(strokes) >= 3
    assert hub.read_frame().shape == (480, 640, 3)
    assert hub.battery.read().on_mains is True


@pytest.mark.parametrize("name", ["fingerprint", "signature_pad", "camera", "battery"])
def test_unplug_is_reported_translated_and_recovered_in_place(sim_hub, name):
    hub, bus = sim_hub
    sub = bus.subscribe("device.")
    sensor, pad_handle = hub.sensor, hub.signature_pad
    hub.simulator.unplug(name)
    info = hub.check_now()[name]
    assert info["health"] == "absent"
    assert " / " in info["reason"] and info["reason_id"] and info["reason_en"]
    assert (f"device.{name}", "absent") in events(sub)
    hub.simulator.replug(name)
    assert hub.check_now()[name]["health"] == "ok"
    assert (f"device.{name}", "ok") in events(sub)
    assert hub.sensor is sensor and hub.signature_pad is pad_handle  # same objects: reconnected, not rebuilt


def test_unplugged_devices_raise_device_unavailable_in_two_languages(sim_hub):
    hub, _ = sim_hub
    hub.simulator.unplug("fingerprint")
    with pytest.raises(DeviceUnavailable) as info, hub.fingerprint():
        pass
    assert isinstance(info.value, JemputError)
    assert "Sensor sidik jari tidak terhubung" in str(info.value)
    assert "Fingerprint sensor is not connected" in str(info.value)
    hub.simulator.unplug("signature_pad")
    with pytest.raises(DeviceUnavailable, match="Signature pad is not connected"):
        hub.signature_pad.read_points(timeout=0.5)
    hub.simulator.unplug("camera")
    with pytest.raises(DeviceUnavailable, match="Kamera tidak terhubung"):
        hub.read_frame()


def test_unplug_during_capture_becomes_device_unavailable(sim_hub):
    hub, _ = sim_hub
    hub.simulator.place_finger("good")
    with pytest.raises(DeviceUnavailable), hub.fingerprint() as sensor:
        hub.simulator.unplug("fingerprint")
        sensor.capture_image(timeout=2)
    assert hub.health()["fingerprint"]["health"] == "absent"
    hub.simulator.replug("fingerprint")
    hub.simulator.place_finger("good")
    with hub.fingerprint() as sensor:
        assert sensor.capture_image(timeout=5).shape == (288, 256)


def test_monitor_thread_notices_and_reconnects_by_itself(sim_hub):
    hub, bus = sim_hub
    sub = bus.subscribe("device.signature_pad")
    hub.start()
    hub.simulator.unplug("signature_pad")
    assert sub.get(timeout_s=10).data["health"] == "absent"
    hub.simulator.replug("signature_pad")
    assert sub.get(timeout_s=10).data["health"] == "ok"
    hub.simulator.sign()
    assert len(hub.signature_pad.collect(1.0)) > 50


def test_simulator_mains_drives_the_power_policy(sim_hub):
    hub, bus = sim_hub
    calls = []
    policy = PowerPolicy(hub.config.power, hub.battery, bus, lambda: calls.append(1))
    assert policy.poll().on_mains is True
    hub.simulator.cut_mains()
    hub.simulator.battery.set_percent(8)
    snap = policy.poll()
    assert snap.on_mains is False and snap.level is PowerLevel.STOP and not policy.allows_new_enrollment()
    hub.simulator.restore_mains()
    assert policy.poll().level is PowerLevel.OK and calls == []


def test_simulator_rejects_unknown_device(sim_hub):
    hub, _ = sim_hub
    with pytest.raises(ValueError, match="unknown device"):
        hub.simulator.unplug("toaster")


def test_real_mode_absent_devices_then_pad_and_pisugar_come_back(tmp_path):
    pad_port = tmp_path / "jemput-sigpad"
    with FakePiSugarServer() as server:
        port = server.port
    config = make_config(
        tmp_path,
        fingerprint={"port": str(tmp_path / "jemput-fingerprint")},
        signature_pad={"port": str(pad_port)},
        camera={"backend": "opencv"},  # source "0": no /dev/video0 here
        battery={"kind": "pisugar", "pisugar_port": port},
    )
    bus = EventBus()
    hub = DeviceHub(config, bus, monitor_interval_s=0.1)
    try:
        health = hub.health()
        assert {name: info["health"] for name, info in health.items()} == {
            "camera": "absent", "fingerprint": "absent", "signature_pad": "absent", "battery": "absent"}
        assert hub.simulator is None
        with FakeTopazPad(link_dir=str(tmp_path)) as fake, FakePiSugarServer(port=port, percent=42.0):
            health = hub.check_now()
            assert health["signature_pad"]["health"] == "ok" and health["battery"]["health"] == "ok"
            assert hub.battery.read().percent == 42.0
            fake.sign(block=False)
            assert len(hub.signature_pad.collect(2.0)) > 50
        assert hub.check_now()["battery"]["health"] == "absent"
    finally:
        hub.stop()


def test_no_battery_configured_is_absent_with_reason(tmp_path):
    hub = DeviceHub(make_config(tmp_path, camera={"backend": "synthetic"}), EventBus())
    try:
        info = hub.health()["battery"]
        assert info["health"] == "absent" and "kind = none" in info["detail"]
        assert hub.battery is None and hub.health()["camera"]["health"] == "ok"
    finally:
        hub.stop()


def test_missing_i2c_bus_is_a_clear_absent(tmp_path):
    hub = DeviceHub(make_config(tmp_path, battery={"kind": "ina219", "bus": 97}), EventBus())
    try:
        info = hub.health()["battery"]
        assert info["health"] == "absent" and "cannot open I2C bus 97" in info["detail"]
    finally:
        hub.stop()


def test_hub_switches_the_sensor_to_its_fast_rate(sim_hub):
    hub, _ = sim_hub
    hub.check_now()
    assert hub.sensor.baudrate == 115200 and hub._fake_fp.baudrate == 115200
    hub.simulator.unplug("fingerprint")  # power cycle: the part comes back at 115200, the driver finds it
    hub.simulator.replug("fingerprint")
    assert hub.check_now()["fingerprint"]["health"] == "ok" and hub.sensor.baudrate == 115200


def test_mains_edge_reaches_the_power_policy_without_waiting_for_a_poll(sim_hub):
    from station.power import PowerPolicy

    hub, bus = sim_hub
    policy = PowerPolicy(hub.config.power, hub.battery, bus, lambda: None, poll_interval_s=3600)
    with bus.subscribe("power.") as sub:
        policy.start()
        try:
            policy.poll()
            hub.simulator.cut_mains()
            snap = policy.snapshot()  # set in the edge callback itself, before any poll
            assert snap.on_mains is False and snap.minutes_left == pytest.approx((80 - 5) / 100 * 180, abs=1)
            seen = []
            while (event := sub.get(timeout_s=0.5)) is not None:
                seen.append(event)
            assert any(e.topic == "power.changed" and e.data["on_mains"] is False for e in seen)
        finally:
            policy.stop()
