"""A killed process resumes its draft at the same step; no biometric byte is ever on disk in plaintext."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import Payloads, make_resident, run_to_review

from station import store
from station.drafts import Step
from station.enrollment import EnrollmentService, signature_json
from station.fingers import CAPTURE_ORDER
from station.keys import save_private_key
from station.outbox import Outbox
from station.packets import open_packet

CHILD = Path(__file__).with_name("resume_child.py")


def test_kill_mid_enrollment_resumes_at_the_same_step(tmp_path, office_identity, signing_key):
    data_dir, key_file = tmp_path / "data", tmp_path / "station.key"
    save_private_key(signing_key, key_file)
    proc = subprocess.Popen([sys.executable, str(CHILD), str(data_dir), office_identity[1], str(key_file), "7"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY"), f"child said {line!r}, exit {proc.poll()}"
        draft_id = line.split()[1]
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()

    conn = store.connect(data_dir)
    try:
        outbox = Outbox(conn, data_dir / "packets")
        service = EnrollmentService(conn, station_id="kph-01", recipient=office_identity[1], signing_key=signing_key,
                                    outbox=outbox, bus=None, software_version="t", disk_free_bytes=lambda: 10**12)
        [draft] = service.active_drafts()
        assert draft.id == draft_id
        draft = service.resume(draft_id)
        assert draft.step is Step.FINGERPRINTS and draft.next_finger is CAPTURE_ORDER[3]
        assert draft.photo == {"passed": True, "face": [1, 2, 3, 4]} and draft.consent_given_at is not None
        assert set(draft.fingers) == set(CAPTURE_ORDER[:3])
        assert draft.parts == {"photo.jpg"} | {f.part_name for f in CAPTURE_ORDER[:3]}
        payloads = Payloads.random(1024, seed=7)  # the same bytes the child captured
        run_to_review(service, draft_id, payloads)
        opened = open_packet(outbox.read_bytes(outbox.get(service.finish(draft_id))), office_identity[0],
                             signing_key.public_key())
        assert opened.files["photo.jpg"] == payloads.photo
        for finger in CAPTURE_ORDER[:3]:
            assert opened.files[finger.part_name] == payloads.fingers[finger]
            assert opened.manifest["captures"]["fingers"][finger.code]["attempts"] == 2
    finally:
        conn.close()


def _needles(payloads: Payloads) -> dict[str, bytes]:
    pen = signature_json(payloads.points)
    needles = {"photo": payloads.photo, "photo[mid]": payloads.photo[5000:5032],
               "signature.png": payloads.signature_png, "signature.png[mid]": payloads.signature_png[2000:2032],
               "signature.json": pen, "signature.json[mid]": pen[len(pen) // 2:len(pen) // 2 + 48]}
    for finger, png in payloads.fingers.items():
        needles[finger.part_name] = png
        needles[f"{finger.part_name}[mid]"] = png[3000:3032]
    return needles


def _scan(data_dir: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files), "the scan must include the WAL"
    for path in files:
        blob = path.read_bytes()
        for name, needle in needles.items():
            if needle in blob:
                found.setdefault(name, []).append(path.name)
    return found


def test_no_plaintext_biometrics_on_disk(service, conn, data_dir, operator, session_id):
    payloads = Payloads.random(8192)
    resident = make_resident(11)
    draft = service.start(session_id, resident, operator)
    run_to_review(service, draft.id, payloads, operator)
    needles = _needles(payloads)
    # control: the scan does see what the store holds in clear (the demographic fields are not biometric)
    control = {"nama": resident.nama.encode()}
    assert _scan(data_dir, control), "scanner found not even the resident's name: it is not reading the store"
    assert _scan(data_dir, needles) == {}, "plaintext biometric bytes in a draft"
    service.back_to(draft.id, Step.PHOTO)  # discarded parts must not leave plaintext behind either
    service.accept_photo(draft.id, payloads.photo, {})
    service.finish(draft.id)
    assert _scan(data_dir, needles) == {}, "plaintext biometric bytes after finishing"
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _scan(data_dir, needles) == {}
