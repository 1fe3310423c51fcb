"""Child process for the crash test: finishes enrollments in a loop until killed.

Usage: crash_child.py DATA_DIR RECIPIENT KEY_FILE. On start it recovers the outbox and finishes any draft a previous
run left active, like the station does; prints ``READY``, then ``COMMITTED <packet-id> <nik>`` after each
``finish()`` has returned (so every reported id must be durable).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Payloads, ensure_operator, ensure_session, make_resident, run_to_review  # noqa: E402

from station import store  # noqa: E402
from station.enrollment import EnrollmentService  # noqa: E402
from station.keys import load_signing_key  # noqa: E402
from station.outbox import Outbox  # noqa: E402


def main() -> None:
    data_dir, recipient, key_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    conn = store.connect(data_dir)
    outbox = Outbox(conn, data_dir / "packets")
    report = outbox.recover()
    print(f"RECOVERED tmp={len(report.removed_tmp)} orphans={len(report.removed_orphans)} "
          f"missing={len(report.missing_files)}", flush=True)
    service = EnrollmentService(conn, station_id="kph-01", recipient=recipient, signing_key=load_signing_key(key_file),
                                outbox=outbox, bus=None, software_version="crash-test", min_free_mb=1)
    operator = ensure_operator(conn)
    session_id = ensure_session(conn, operator)
    payloads = Payloads.random(256)
    for draft in service.active_drafts():
        service.resume(draft.id)
        run_to_review(service, draft.id, payloads, operator)
        print(f"COMMITTED {service.finish(draft.id)} {draft.nik}", flush=True)
    print("READY", flush=True)
    n = conn.execute("SELECT COUNT(*) FROM drafts").fetchone()[0] + 1
    while True:
        draft = service.start(session_id, make_resident(n), operator)
        run_to_review(service, draft.id, payloads, operator)
        print(f"COMMITTED {service.finish(draft.id)} {draft.nik}", flush=True)
        n += 1


if __name__ == "__main__":
    main()
