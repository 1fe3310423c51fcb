"""Uploader goodput through a throttled link, against the link's configured capacity (the baseline).

Runs B's real receiver under waitress on loopback, a real station outbox of real sealed packets, and the test
proxy (tests/link/proxy.py) pacing both directions at 64 kbit/s, 256 kbit/s and 1 Mbit/s, each with and without
connections cut every few seconds of link time. Prints per setting: packet bytes delivered, time, goodput,
goodput / capacity (goal >= 0.85 without drops) and payload bytes on the wire per record (both directions, TCP
payload only). Backoff is shortened (0.5-2 s) so the drop runs measure resumption, not waiting.

    .venv/bin/python bench/sync_goodput.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "link"))

from link_office import open_outbox, queue_packets, running_office  # noqa: E402
from proxy import ThrottlingProxy  # noqa: E402

from station.sync import Uploader  # noqa: E402

# (label, bits/s, records, photo bytes per record): about 8 s of link time each
SETTINGS = [("64 kbit/s", 64_000, 2, 28_000), ("256 kbit/s", 256_000, 4, 58_000), ("1 Mbit/s", 1_000_000, 4, 240_000)]
DROP_EVERY_S = 3.0


def run(label: str, rate_bps: int, records: int, photo_bytes: int, drops: bool, workdir: Path) -> dict:
    with running_office(workdir / "office") as office:
        station_dir = workdir / "station"
        ids = queue_packets(office, station_dir, records, photo_bytes=photo_bytes)
        outbox = open_outbox(station_dir)
        packet_bytes = sum(outbox.get(i).size_bytes for i in ids)
        proxy = ThrottlingProxy(office.server.port, rate_bps=rate_bps)
        if drops:
            proxy.drop_every_bytes = int(rate_bps / 8 * DROP_EVERY_S)
        uploader = Uploader(outbox, office_url=proxy.url, token=office.token,
                            office_verify_key=office.keys.verify_key_b64, station_id="kph-01", timeout_s=20,
                            backoff_base_s=0.5, backoff_max_s=2.0)
        started = time.monotonic()
        uploader.start()
        deadline = started + 120
        while outbox.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        uploader.stop()
        proxy.close()
        delivered = len(office.stored_packet_ids())
        return {"label": label + (" + drops" if drops else ""), "records": f"{delivered}/{records}",
                "packet_kb": packet_bytes / 1024, "seconds": elapsed,
                "goodput_kbps": packet_bytes * 8 / elapsed / 1000, "ratio": packet_bytes * 8 / elapsed / rate_bps,
                "wire_per_record_kb": (proxy.bytes_up + proxy.bytes_down) / records / 1024,
                "overhead_percent": ((proxy.bytes_up + proxy.bytes_down) / packet_bytes - 1) * 100,
                "drops": proxy.drops, "final_chunk_kb": uploader.chunk_bytes / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 256 kbit/s, with and without drops")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    settings = [s for s in SETTINGS if not args.quick or s[1] == 256_000]
    header = (f"{'setting':<22}{'records':>8}{'packet KB':>10}{'s':>7}{'kbit/s':>9}{'ratio':>7}"
              f"{'wire KB/rec':>12}{'overhead':>9}{'drops':>6}{'chunk KB':>9}")
    print(header)
    print("-" * len(header))
    for label, rate, records, photo in settings:
        for drops in (False, True):
            with tempfile.TemporaryDirectory(prefix="jemput-bench-") as tmp:
                r = run(label, rate, records, photo, drops, Path(tmp))
            print(f"{r['label']:<22}{r['records']:>8}{r['packet_kb']:>10.0f}{r['seconds']:>7.1f}"
                  f"{r['goodput_kbps']:>9.1f}{r['ratio']:>7.2f}{r['wire_per_record_kb']:>12.1f}"
                  f"{r['overhead_percent']:>8.1f}%{r['drops']:>6}{r['final_chunk_kb']:>9.0f}", flush=True)
    print("\nratio = packet bytes delivered (receipted) / (configured link capacity x time); goal >= 0.85 without "
          "drops.\nwire = TCP payload both directions through the proxy (headers, receipts, resent bytes included).")


if __name__ == "__main__":
    main()
