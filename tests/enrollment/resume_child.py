"""Child for the resume test: records consent, photo and three fingers with seeded payloads, says READY, waits.

Usage: resume_child.py DATA_DIR RECIPIENT KEY_FILE SEED. Prints ``READY <draft-id>`` after the third finger's
``accept_finger`` returned, then sleeps until killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Payloads, ensure_operator, ensure_session, make_resident  # noqa: E402

from station import store  # noqa: E402
from station.enrollment import EnrollmentService  # noqa: E402
from station.fingers import CAPTURE_ORDER  # noqa: E402
from station.keys import load_signing_key  # noqa: E402
from station.outbox import Outbox  # noqa: E402

data_dir, recipient, key_file, seed = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
conn = store.connect(data_dir)
service = EnrollmentService(conn, station_id="kph-01", recipient=recipient, signing_key=load_signing_key(key_file),
                            outbox=Outbox(conn, data_dir / "packets"), bus=None, software_version="t", min_free_mb=1)
operator = ensure_operator(conn)
payloads = Payloads.random(1024, seed=seed)
draft = service.start(ensure_session(conn, operator), make_resident(42), operator)
service.confirm(draft.id, consent=True)
service.accept_photo(draft.id, payloads.photo, {"passed": True, "face": [1, 2, 3, 4]})
for finger in CAPTURE_ORDER[:3]:
    service.accept_finger(draft.id, finger, payloads.fingers[finger], score=61, attempts=2, force_captured=False)
print(f"READY {draft.id}", flush=True)
time.sleep(120)
