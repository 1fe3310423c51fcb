"""Benchmark: sealing and durably committing a finished enrollment, against a bare SQLite insert of the same bytes.

Realistic payloads: a 640x480 JPEG photo (the committed portrait), ten 256x288 PNG fingerprints (synthetic ridges),
a 300-point signature as JSON and a PNG. Per enrollment it times

* ``finish()``: seal the manifest, build and sign the packet, write it durably (fsync + rename + fsync dir), commit
  the outbox row, the draft's state and the audit entry in one transaction;
* the whole record: every ``accept_*`` (each seals its capture and commits) plus ``finish()``;
* the baseline: one ``INSERT`` of the same plaintext bytes in one transaction, WAL + ``synchronous=FULL``.

Prints median and p95 of each and the ratios. Goal: ``finish()`` median under 50 ms. Not a pass/fail test.
Usage: ``.venv/bin/python bench/enrollment_commit.py [--runs 40] [--dir DIR]`` (DIR on the card you care about).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from station import store  # noqa: E402
from station.enrollment import EnrollmentService, signature_json  # noqa: E402
from station.fingers import CAPTURE_ORDER, Finger  # noqa: E402
from station.keys import generate_age_identity, generate_signing_key  # noqa: E402
from station.operators import add_operator  # noqa: E402
from station.outbox import Outbox  # noqa: E402
from station.roster import Resident  # noqa: E402
from station.sessions import open_session  # noqa: E402


def make_payloads() -> tuple[bytes, dict[Finger, bytes], list[dict], bytes]:
    portrait = cv2.imread(str(ROOT / "device_drivers" / "assets" / "portrait.jpg"))
    if portrait is None:
        raise SystemExit("device_drivers/assets/portrait.jpg could not be read")
    photo = cv2.imencode(".jpg", cv2.resize(portrait, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    try:
        from device_drivers.fingerprint.synthetic import synthetic_fingerprint

        images = {f: synthetic_fingerprint(256, 288, "good", seed=f.value) for f in CAPTURE_ORDER}
    except ImportError:
        rng = np.random.default_rng(1)
        images = {f: rng.integers(0, 256, (288, 256), dtype=np.uint8) for f in CAPTURE_ORDER}
    fingers = {f: cv2.imencode(".png", img)[1].tobytes() for f, img in images.items()}
    points = [{"x": int(200 + 150 * math.sin(i / 15)), "y": int(80 + 40 * math.sin(i / 7)), "pressure": 512,
               "pen_down": i % 60 != 59, "t": round(i * 0.008, 3)} for i in range(300)]
    canvas = np.full((160, 420), 255, np.uint8)
    pts = np.array([[p["x"], p["y"]] for p in points], np.int32)
    cv2.polylines(canvas, [pts], False, 0, 2)
    return photo, fingers, points, cv2.imencode(".png", canvas)[1].tobytes()


def enroll(service: EnrollmentService, session_id: str, operator, n: int, payloads) -> tuple[float, float]:
    photo, fingers, points, sig_png = payloads
    resident = Resident(nik=f"610601{1 + n // 9999 % 28:02d}0190{n % 9999 + 1:04d}", nama=f"Warga {n}",
                        tanggal_lahir=date(1990, 1, 15), jenis_kelamin="P",
                        kode_desa="61.06.01.2001", alamat="Jl. Sungai 1")
    t0 = time.perf_counter()
    draft = service.start(session_id, resident, operator)
    service.confirm(draft.id, consent=True)
    service.accept_photo(draft.id, photo, {"passed": True})
    for finger in CAPTURE_ORDER:
        service.accept_finger(draft.id, finger, fingers[finger], score=80, attempts=1, force_captured=False)
    service.accept_signature(draft.id, points, sig_png, {"passed": True})
    t1 = time.perf_counter()
    service.finish(draft.id)
    t2 = time.perf_counter()
    return (t2 - t1) * 1000, (t2 - t0) * 1000


def baseline(conn: sqlite3.Connection, n: int, blobs: list[bytes]) -> float:
    t0 = time.perf_counter()
    with store.transaction(conn):
        conn.execute("INSERT INTO bare VALUES (?, ?)", (n, b"".join(blobs)))
    return (time.perf_counter() - t0) * 1000


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary data dir")
    args = parser.parse_args()
    payloads = make_payloads()
    photo, fingers, points, sig_png = payloads
    blobs = [photo, *fingers.values(), signature_json(points), sig_png]
    work = Path(tempfile.mkdtemp(prefix="jemput-bench-", dir=args.dir))
    try:
        conn = store.connect(work / "station")
        _, recipient = generate_age_identity()
        service = EnrollmentService(conn, station_id="bench-01", recipient=recipient,
                                    signing_key=generate_signing_key(), outbox=Outbox(conn, work / "station/packets"),
                                    bus=None, software_version="bench", min_free_mb=1)
        operator = add_operator(conn, "bench", "Bench", "2468")
        session_id = open_session(conn, "61.06.01.2001", operator).id
        bare = store.connect(work / "bare")
        bare.execute("CREATE TABLE bare (n INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        finish_ms, record_ms, bare_ms = [], [], []
        for n in range(args.runs + 3):
            f, r = enroll(service, session_id, operator, n, payloads)
            b = baseline(bare, n, blobs)
            if n >= 3:  # warm-up
                finish_ms.append(f)
                record_ms.append(r)
                bare_ms.append(b)
        size = service.outbox.list(limit=1)[0].size_bytes
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
        print(f"payload: {sum(map(len, blobs)) / 1024:.0f} KiB plaintext in {len(blobs)} files "
              f"(photo {len(photo) / 1024:.0f} KiB); packet {size / 1024:.0f} KiB; runs {args.runs}; "
              f"journal {journal}, synchronous {sync} (2 = FULL); dir {work}")
        fm, fp = summary(finish_ms)
        rm, rp = summary(record_ms)
        bm, bp = summary(bare_ms)
        print(f"finish() seal+packet+durable commit: median {fm:7.1f} ms   p95 {fp:7.1f} ms   (goal: median < 50 ms)")
        print(f"whole record (15 steps + finish):     median {rm:7.1f} ms   p95 {rp:7.1f} ms")
        print(f"baseline bare SQLite insert:          median {bm:7.1f} ms   p95 {bp:7.1f} ms")
        print(f"ratio finish/baseline: {fm / bm:.1f}x median, {fp / bp:.1f}x p95; "
              f"whole record/baseline: {rm / bm:.1f}x median")
        print(json.dumps({"finish_ms": [round(fm, 2), round(fp, 2)], "record_ms": [round(rm, 2), round(rp, 2)],
                          "baseline_ms": [round(bm, 2), round(bp, 2)]}))
        conn.close()
        bare.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
