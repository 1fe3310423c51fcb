"""Child process for the upload crash test: runs the uploader on a data dir until SIGKILLed.

Usage: upload_child.py SPEC_JSON with ``data_dir``, ``url``, ``token``, ``verify_key``, ``chunk_bytes``. Prints
``STARTED`` once the uploader thread runs; the parent kills it in the middle of a PATCH.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from station import store
from station.outbox import Outbox
from station.sync import ChunkPolicy, Uploader


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    data_dir = Path(spec["data_dir"])
    outbox = Outbox(store.connect(data_dir), data_dir / "packets")
    chunk = ChunkPolicy(initial_bytes=spec["chunk_bytes"], max_bytes=spec["chunk_bytes"])
    uploader = Uploader(outbox, office_url=spec["url"], token=spec["token"], office_verify_key=spec["verify_key"],
                        station_id="kph-01", chunk=chunk, timeout_s=5.0, backoff_base_s=0.1, backoff_max_s=0.5)
    uploader.start()
    print("STARTED", flush=True)
    threading.Event().wait(120)     # the parent kills us long before; never outlive a forgotten test


if __name__ == "__main__":
    main()
