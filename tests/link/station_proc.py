"""A station's telemetry relay in its own process, so tests can SIGKILL it (the last will must fire).

Usage: python station_proc.py SPEC.json — SPEC holds the station config dict (the MQTT password is in the data dir's
keys/mqtt-password, as provisioning leaves it), the snapshot file
(re-read on every snapshot so the test can change the station's state) and a file where commands are appended.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path

from station.config import config_from_dict
from station.events import EventBus
from station.telemetry import Telemetry


def main(spec_path: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    spec = json.loads(Path(spec_path).read_text())
    config = config_from_dict(spec["config"])
    snapshot_file = Path(spec["snapshot_file"])
    commands_file = Path(spec["commands_file"])

    def on_command(name: str, args: dict) -> dict:
        with commands_file.open("a") as f:
            f.write(json.dumps({"name": name, "args": args}) + "\n")
        return {"done": name}

    telemetry = Telemetry(config, station_snapshot=lambda: json.loads(snapshot_file.read_text()), bus=EventBus(),
                          office_verify_key=config.office.verify_key, on_command=on_command)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    telemetry.start()
    print("connected" if telemetry.wait_connected(15) else "not connected", flush=True)
    stop.wait()
    telemetry.stop()


if __name__ == "__main__":
    main(sys.argv[1])
