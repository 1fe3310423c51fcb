"""Power cut in the middle of a recording: the station process is killed (SIGKILL, as when the power goes) while
a resident is at the fingerprint step; after a restart the kiosk offers the unfinished recording and it resumes at
the same step with what was already captured. Runs the real ``jemput station run --simulate`` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from station.config import load_config
from station.demo_data import DEMO_PIN, DEMO_USERNAME, DemoInfo, demo_roster_csv, demo_villages
from station.fingers import CAPTURE_ORDER
from station.runtime import init_station
from tests.ui.conftest import station_config
from tests.ui.kiosk_steps import reach_fingers

pytestmark = [pytest.mark.browser, pytest.mark.slow]
JEMPUT = Path(sys.executable).with_name("jemput")
FIRST, SECOND, THIRD = CAPTURE_ORDER[:3]


def write_config(data_dir: Path) -> Path:
    cfg = station_config(data_dir)
    lines = []
    for section, values in cfg.items():
        if section == "devices":
            lines.append("[devices.camera]")
            lines += [f'{k} = "{v}"' for k, v in values["camera"].items()]
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {v!r}" if isinstance(v, int) else f'{k} = "{v}"' for k, v in values.items()]
    path = data_dir.parent / "station.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class StationProcess:
    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path, self.log_path = config_path, log_path
        self.proc: subprocess.Popen | None = None

    def start(self, url: str) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(JEMPUT), "station", "run", "--config", str(self.config_path), "--simulate"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"station exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/login", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"kiosk did not come up:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # like pulling the plug: no clean-up runs
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


@pytest.fixture
def station_process(data_dir: Path, tmp_path: Path) -> Any:
    config_path = write_config(data_dir)
    config = load_config(config_path)
    init_station(config)  # an empty store: `run --simulate` adds the demo operator and roster itself
    proc = StationProcess(config_path, tmp_path / "station.log")
    proc.url = f"http://127.0.0.1:{config.ui.port}"
    rows = demo_roster_csv(config.station.district).splitlines()[1:]
    proc.demo = DemoInfo(DEMO_USERNAME, DEMO_PIN, demo_villages(config.station.district), len(rows),
                         tuple(r.split(",")[0] for r in rows[:3]))
    try:
        yield proc
    finally:
        proc.stop()


def test_killed_station_resumes_the_recording_at_the_same_step(station_process: Any, page: Any,
                                                                shots: Any) -> None:
    url = station_process.url
    station_process.start(url)
    printed = station_process.log_path.read_text()
    assert f"Demo operator: demo / PIN {DEMO_PIN}" in printed and f"Kiosk: {url}" in printed

    class Remote:  # what reach_fingers needs to know about the station
        demo = station_process.demo

    reach_fingers(page, url, Remote)
    page.locator("#sim-toggle").click()
    page.locator("[data-sim='place_finger'][data-arg='good']").click()
    expect(page.locator("#fingers")).to_have_attribute("data-current", SECOND.code, timeout=30_000)
    page.locator("#sim-toggle").click()  # close the drawer (it would cover the home screen after the restart)

    station_process.kill()
    page.goto("about:blank")
    station_process.start(url)

    page.goto(url + "/")
    if page.url.endswith("/login"):  # the session cookie may have outlived the process; if not, log in again
        page.locator("[data-operator='demo']").click()
        for d in station_process.demo.pin:
            page.locator(f".keypad [data-key='{d}']").click()
        page.wait_for_url(url + "/")
    resume = page.locator("#drafts [data-resume]")
    expect(resume).to_have_count(1)
    shots(page, "50-resume-after-power-cut")
    resume.click()
    page.wait_for_url("**/fingerprints")
    expect(page.locator("#fingers")).to_have_attribute("data-current", SECOND.code)
    expect(page.locator(f".hand .f.done[data-code='{FIRST.code}']")).to_be_visible()
    shots(page, "51-resumed-fingers")

    # and the recording goes on from there (the emulator restarted with no finger on it)
    page.locator("#sim-toggle").click()
    expect(page.locator("#finger-state")).to_have_attribute("data-state", "waiting", timeout=15_000)
    page.locator("[data-sim='place_finger'][data-arg='good']").click()
    expect(page.locator("#fingers")).to_have_attribute("data-current", THIRD.code, timeout=30_000)
