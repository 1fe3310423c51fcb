"""Uploader goodput over a village link, against the link's capacity and against a third-party tus client.

Runs the real office (cheroot, streaming receiver) on loopback, a real station outbox of real-sized sealed packets
(~650 KB, what a record weighs with today's captures; ``--packet-kb`` to change), and the test proxy
(tests/link/proxy.py) as the link: 64 and 256 kbit/s each way, a round-trip time of 300 ms (EDGE) and 800 ms
(congested 3G), without cuts and with a cut about every 8 s of link time (seeded: both clients meet the same cut
schedule). The baseline is tuspy (PyPI ``tuspy``, the tus project's Python client) on the same proxy with its own
resume (``retries``, no delay) at each of its chunk sizes; its best is the baseline. Prints per setting: goodput /
capacity for Jemput and for tuspy, the ratio Jemput / tuspy (goal >= 1.0 everywhere, >= 1.2 with cuts), TCP
connections opened per packet and bytes on the wire per packet.

    .venv/bin/python bench/sync_goodput.py [--quick] [--packets N] [--packet-kb K]
"""

from __future__ import annotations

import argparse
import io
import logging
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "link"))

from link_office import open_outbox, queue_packets, running_office  # noqa: E402
from proxy import ThrottlingProxy  # noqa: E402

from station.sync import Uploader  # noqa: E402

RATES = [("64 kbit/s", 64_000), ("256 kbit/s", 256_000)]
RTTS = [0.3, 0.8]
CUT_EVERY_S = 8.0
TUSPY_CHUNKS = [16 * 1024, 256 * 1024, 8 * 1024 * 1024]
SEED = 20261203


def cut_schedule(rate_bps: int, seed: int) -> Iterator[int]:
    """Upstream bytes between cuts: link-time intervals uniform in 0.5-1.5 x ``CUT_EVERY_S`` (seeded)."""
    rng = random.Random(seed)
    while True:
        yield int(rate_bps / 8 * CUT_EVERY_S * rng.uniform(0.5, 1.5))


def run_jemput(office, station_dir: Path, ids: list[str], proxy: ThrottlingProxy, deadline_s: float) -> float:
    outbox = open_outbox(station_dir)
    uploader = Uploader(outbox, office_url=proxy.url, token=office.token, office_verify_key=office.keys.verify_key_b64,
                        station_id="kph-01", timeout_s=20, backoff_base_s=0.5, backoff_max_s=2.0)
    started = time.monotonic()
    uploader.start()
    while outbox.pending() and time.monotonic() - started < deadline_s:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    uploader.stop()
    return elapsed


def run_tuspy(office, station_dir: Path, ids: list[str], proxy: ThrottlingProxy, chunk: int,
              deadline_s: float) -> float:
    from tusclient import client as tus

    outbox = open_outbox(station_dir)
    started = time.monotonic()
    for packet_id in ids:
        item = outbox.get(packet_id)
        data = outbox.read_bytes(item)
        tc = tus.TusClient(proxy.url + "/api/v1/uploads", headers={"Authorization": f"Bearer {office.token}"})
        uploader = tc.uploader(file_stream=io.BytesIO(data), chunk_size=chunk, retries=10_000, retry_delay=0,
                               metadata={"packet_id": packet_id, "station": "kph-01", "sha256": item.sha256})
        while True:
            try:
                uploader.upload()
                break
            except Exception:  # noqa: BLE001 - its create (POST) does not retry by itself: we do, at once
                if time.monotonic() - started > deadline_s:
                    raise
                if uploader.url is None:
                    continue
    return time.monotonic() - started


def measure(client: str, rate: int, rtt: float, cuts: bool, packets: int, photo_bytes: int,
            chunk: int | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="jemput-bench-") as tmp, running_office(Path(tmp) / "office") as office:
        station_dir = Path(tmp) / "station"
        ids = queue_packets(office, station_dir, packets, photo_bytes=photo_bytes)
        outbox = open_outbox(station_dir)
        packet_bytes = sum(outbox.get(i).size_bytes for i in ids)
        proxy = ThrottlingProxy(office.server.port, rate_bps=rate, rtt_s=rtt,
                                drop_schedule=cut_schedule(rate, SEED) if cuts else None)
        deadline = packet_bytes * 8 / rate * 6 + 60
        try:
            if client == "jemput":
                elapsed = run_jemput(office, station_dir, ids, proxy, deadline)
            else:
                elapsed = run_tuspy(office, station_dir, ids, proxy, chunk or 0, deadline)
        finally:
            proxy.close()
        stored = len(office.stored_packet_ids())
        return {"ratio": packet_bytes * 8 / elapsed / rate if stored == packets else 0.0, "seconds": elapsed,
                "connections_per_packet": proxy.connections / packets, "cuts": proxy.drops,
                "wire_kb_per_packet": (proxy.bytes_up + proxy.bytes_down) / packets / 1024,
                "packet_kb": packet_bytes / packets / 1024, "stored": f"{stored}/{packets}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 kbit/s, 300 ms only; tuspy at 256 KiB chunks")
    parser.add_argument("--packets", type=int, default=1, help="packets per run (default 1)")
    parser.add_argument("--packet-kb", type=int, default=650, help="size of each packet (default 650)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rates = [r for r in RATES if not args.quick or r[1] == 256_000]
    rtts = [0.3] if args.quick else RTTS
    chunks = [256 * 1024] if args.quick else TUSPY_CHUNKS
    photo = args.packet_kb * 1024 - 2500      # the sealed manifest, envelope and ZIP headers make up the rest
    print(f"{'link':<12}{'RTT':>6}{'cuts':>6}{'Jemput':>8}{'tuspy':>8}{'(chunk)':>9}{'J/t':>7}"
          f"{'conn/pkt J':>11}{'conn/pkt t':>11}{'wire KB/pkt J':>14}{'cuts J/t':>10}")
    for label, rate in rates:
        for rtt in rtts:
            for cuts in (False, True):
                j = measure("jemput", rate, rtt, cuts, args.packets, photo)
                best, best_chunk = None, 0
                for chunk in chunks:
                    t = measure("tuspy", rate, rtt, cuts, args.packets, photo, chunk)
                    if best is None or t["ratio"] > best["ratio"]:
                        best, best_chunk = t, chunk
                ratio = j["ratio"] / best["ratio"] if best["ratio"] else float("inf")
                print(f"{label:<12}{int(rtt * 1000):>5}ms{'yes' if cuts else 'no':>6}{j['ratio']:>8.3f}"
                      f"{best['ratio']:>8.3f}{best_chunk // 1024:>7}Ki{ratio:>7.2f}{j['connections_per_packet']:>11.1f}"
                      f"{best['connections_per_packet']:>11.1f}{j['wire_kb_per_packet']:>14.1f}"
                      f"{j['cuts']:>5}/{best['cuts']:<4}", flush=True)
    print(f"\nratio = packet bytes stored at the office / (link capacity x time), packets of {args.packet_kb} KB;"
          f" J/t = Jemput / tuspy (its best chunk size).\ncuts: about every {CUT_EVERY_S:g} s of upstream link "
          "time, the same seeded schedule for both clients; conn/pkt = TCP connections opened per packet.")


if __name__ == "__main__":
    main()
