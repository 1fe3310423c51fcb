"""Crash test (issue 01): SIGKILL a process that commits enrollments, again and again, on the same data dir.

Afterwards every enrollment the child reported as committed is in the outbox exactly once with a packet file that
verifies and opens; nothing half-made is left (no tmp files, no packet without a row, no draft whose sealed parts
disagree with its state); SQLite's integrity check and the audit chain pass.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from station import store
from station.audit import verify_audit_chain
from station.drafts import PHOTO_PART, SIGNATURE_JSON_PART, SIGNATURE_PNG_PART
from station.fingers import Finger
from station.keys import save_private_key
from station.outbox import Outbox
from station.packets import open_packet

CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 60


class ChildRun:
    """One child process; collects its stdout lines in a thread so reading never blocks the test."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(CHILD), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("READY"):
                self.ready.set()

    def kill(self) -> str:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        stderr = self.proc.stderr.read()
        self.proc.stderr.close()
        return stderr


def test_sigkill_never_loses_or_half_writes_a_record(tmp_path, office_identity, signing_key):
    data_dir = tmp_path / "data"
    key_file = tmp_path / "station.key"
    save_private_key(signing_key, key_file)
    args = [str(data_dir), office_identity[1], str(key_file)]
    rng = random.Random()
    reported: dict[str, str] = {}
    recovered_files = 0
    started = time.monotonic()
    for i in range(KILLS):
        run = ChildRun(args)
        if i % 5 == 4:  # sometimes kill during start-up and recovery
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            assert run.ready.wait(timeout=30), f"child never got ready: {run.kill()}"
            time.sleep(rng.uniform(0.0, 0.08))
        assert run.proc.poll() is None, f"child died on its own: {run.kill()}"
        run.kill()
        for line in run.lines:
            if line.startswith("COMMITTED"):
                _, packet_id, nik = line.split()
                assert packet_id not in reported
                reported[packet_id] = nik
            elif line.startswith("RECOVERED"):
                recovered_files += sum(int(p.split("=")[1]) for p in line.split()[1:3])
    elapsed_s = time.monotonic() - started
    assert len(reported) >= 20, f"only {len(reported)} commits in {KILLS} runs ({elapsed_s:.1f} s)"

    conn = store.connect(data_dir)
    try:
        outbox = Outbox(conn, data_dir / "packets")
        report = outbox.recover()
        assert report.missing_files == []
        _check_outbox(outbox, reported, office_identity, signing_key)
        _check_drafts(conn)
        assert store.integrity_check(conn) == "ok"
        assert verify_audit_chain(conn).ok
    finally:
        conn.close()
    print(f"{KILLS} kills, {len(reported)} reported commits, {recovered_files} half-made files recovered, "
          f"{elapsed_s:.1f} s")


def _check_outbox(outbox: Outbox, reported: dict[str, str], office_identity, signing_key) -> None:
    rows = {item.packet_id: item for item in outbox.list(limit=100_000)}
    for packet_id, nik in reported.items():
        assert packet_id in rows, f"reported packet {packet_id} is not in the outbox"
        assert rows[packet_id].nik == nik
    niks = [item.nik for item in rows.values()]
    assert len(niks) == len(set(niks)), "a resident was recorded twice"
    files = sorted(p.name for p in outbox.packets_dir.iterdir())
    assert files == sorted(f"{pid}.jpk" for pid in rows), "packet files and outbox rows differ"
    for item in rows.values():
        opened = open_packet(outbox.read_bytes(item), office_identity[0], signing_key.public_key())
        assert opened.manifest["resident"]["nik"] == item.nik
        assert len(opened.files) == 13  # photo, ten fingers, signature json + png


def _check_drafts(conn) -> None:
    finished = conn.execute("SELECT COUNT(*) FROM drafts WHERE status = 'finished'").fetchone()[0]
    assert finished == conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert conn.execute(
        "SELECT COUNT(*) FROM draft_parts JOIN drafts ON drafts.id = draft_id WHERE status != 'active'"
    ).fetchone()[0] == 0
    for row in conn.execute("SELECT id, state_json FROM drafts WHERE status = 'active'").fetchall():
        state = json.loads(row["state_json"])
        expected = {Finger(int(code)).part_name for code, meta in state["fingers"].items() if not meta["exception"]}
        if state["photo"] is not None:
            expected.add(PHOTO_PART)
        if state["signature"] is not None:
            expected |= {SIGNATURE_JSON_PART, SIGNATURE_PNG_PART}
        parts = {r[0] for r in conn.execute("SELECT name FROM draft_parts WHERE draft_id = ?", (row["id"],))}
        assert parts == expected, f"draft {row['id']}: parts {sorted(parts)} but state expects {sorted(expected)}"
