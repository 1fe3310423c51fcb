"""The enrollment state machine: order, duplicates, exceptions, redo, finishing into a verifiable packet."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers import Payloads, make_resident, run_to_review

from station.audit import verify_audit_chain
from station.drafts import Step
from station.enrollment import DuplicateResident, EnrollmentError, StartRefused, StepError, signature_json
from station.errors import StorageFull
from station.fingers import CAPTURE_ORDER, Finger
from station.outbox import OutboxState
from station.packets import open_packet
from station.sessions import SessionError, close_session, open_session


def _open(outbox, packet_id, office_identity, signing_key):
    item = outbox.get(packet_id)
    return open_packet(outbox.read_bytes(item), office_identity[0], signing_key.public_key())


def test_full_enrollment_makes_an_openable_packet(service, outbox, conn, operator, session_id, office_identity,
                                                  signing_key, bus):
    events = bus.subscribe("enrollment.")
    payloads = Payloads.random()
    payloads.skip = {Finger.LEFT_LITTLE: "jari diamputasi / amputated"}
    resident = make_resident(1)
    draft = service.start(session_id, resident, operator)
    assert draft.step is Step.CONFIRM and draft.operator_id == operator.id
    run_to_review(service, draft.id, payloads, operator)
    packet_id = service.finish(draft.id)

    opened = _open(outbox, packet_id, office_identity, signing_key)
    assert opened.files["photo.jpg"] == payloads.photo
    assert opened.files["signature.png"] == payloads.signature_png
    assert json.loads(opened.files["signature.json"]) == payloads.points
    assert opened.files["signature.json"] == signature_json(payloads.points)
    for finger in CAPTURE_ORDER:
        if finger is Finger.LEFT_LITTLE:
            assert finger.part_name not in opened.files
        else:
            assert opened.files[finger.part_name] == payloads.fingers[finger]
    m = opened.manifest
    assert m["resident"]["nik"] == resident.nik and m["resident"]["tanggal_lahir"] == "1990-01-15"
    assert m["operator"] == {"id": operator.id, "username": operator.username}
    assert m["session"] == {"id": session_id, "kode_desa": "61.06.01.2001"}
    assert m["consent"]["given_at"]
    assert m["captures"]["fingers"]["02"] == {"score": 72, "attempts": 1, "force_captured": False, "exception": None}
    assert m["captures"]["fingers"]["10"]["exception"] == {
        "reason": "jari diamputasi / amputated", "confirmed_by": operator.username, "confirmed_by_id": operator.id}
    assert m["captures"]["signature"]["points"] == 300
    assert m["files"]["photo.jpg"] == {"sha256": hashlib.sha256(payloads.photo).hexdigest(),
                                       "size_bytes": len(payloads.photo)}
    assert m["software_version"] == "test" and m["station"] == "kph-01"

    item = outbox.get(packet_id)
    assert item.state is OutboxState.SEALED and item.nik == resident.nik and item.session_id == session_id
    assert item.sha256 == hashlib.sha256(item.path.read_bytes()).hexdigest()
    finished = service.get(draft.id)
    assert finished.step is Step.DONE and finished.status.value == "finished" and finished.parts == frozenset()
    assert service.active_drafts() == []
    actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions.count("enrollment.finger") == 9 and actions.count("enrollment.finger_exception") == 1
    assert actions[-1] == "enrollment.finish" and "enrollment.start" in actions
    assert verify_audit_chain(conn).ok
    topics = []
    while (event := events.get(timeout_s=0)) is not None:
        topics.append(event.topic)
    assert topics[0] == "enrollment.started" and topics[-1] == "enrollment.finished"


def test_steps_cannot_be_skipped(service, operator, session_id):
    payloads = Payloads.random(256)
    draft = service.start(session_id, make_resident(2), operator)
    with pytest.raises(StepError, match="step confirm, not photo"):
        service.accept_photo(draft.id, payloads.photo, {})
    with pytest.raises(StepError):
        service.finish(draft.id)
    with pytest.raises(EnrollmentError, match="consent"):
        service.confirm(draft.id, consent=False)
    assert service.get(draft.id).step is Step.CONFIRM
    service.confirm(draft.id, consent=True)
    with pytest.raises(StepError):
        service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"x", score=50, attempts=1, force_captured=False)
    draft = service.accept_photo(draft.id, payloads.photo, {})
    assert draft.step is Step.FINGERPRINTS and draft.next_finger is Finger.RIGHT_INDEX
    with pytest.raises(StepError, match="out of order: the next finger is 02"):
        service.accept_finger(draft.id, Finger.LEFT_INDEX, b"x", score=50, attempts=1, force_captured=False)
    with pytest.raises(StepError):
        service.accept_signature(draft.id, payloads.points, payloads.signature_png, {})
    with pytest.raises(EnrollmentError, match="score"):
        service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"x", score=101, attempts=1, force_captured=False)
    with pytest.raises(EnrollmentError, match="below the threshold 40"):
        service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"x", score=39, attempts=1, force_captured=False)
    with pytest.raises(EnrollmentError, match="force_captured only after 3 attempts"):
        service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"x", score=20, attempts=2, force_captured=True)
    with pytest.raises(EnrollmentError, match="attempts 1-3"):
        service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"x", score=90, attempts=4, force_captured=False)
    draft = service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"x", score=20, attempts=3, force_captured=True)
    assert draft.fingers[Finger.RIGHT_INDEX]["force_captured"] is True
    assert draft.next_finger is Finger.LEFT_INDEX
    with pytest.raises(StepError, match="out of order"):  # re-taking needs back_to
        service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"y", score=90, attempts=1, force_captured=False)
    with pytest.raises(StepError, match="forward"):
        service.back_to(draft.id, Step.SIGNATURE)


def test_duplicates_are_refused(service, outbox, operator, session_id, conn):
    resident = make_resident(3)
    draft = service.start(session_id, resident, operator)
    with pytest.raises(DuplicateResident, match="in progress"):
        service.start(session_id, resident, operator)
    run_to_review(service, draft.id, Payloads.random(128), operator)
    packet_id = service.finish(draft.id)
    with pytest.raises(DuplicateResident, match=f"already recorded.*{packet_id}"):
        service.start(session_id, resident, operator)
    outbox.acknowledge(packet_id, {"schema": "jemput.receipt/1"})
    outbox.purge_acknowledged(older_than_days=0)
    with pytest.raises(DuplicateResident, match="purged"):
        service.start(session_id, resident, operator)
    other = make_resident(4)
    draft = service.start(session_id, other, operator)
    service.cancel(draft.id, operator=operator, reason="salah orang")
    assert service.start(session_id, other, operator).step is Step.CONFIRM  # a cancelled draft does not block


def test_finger_exception_needs_a_reason(service, operator, session_id):
    draft = service.start(session_id, make_resident(5), operator)
    service.confirm(draft.id, consent=True)
    service.accept_photo(draft.id, b"photo", {})
    with pytest.raises(EnrollmentError, match="reason"):
        service.record_finger_exception(draft.id, Finger.RIGHT_INDEX, "  ", confirmed_by=operator)
    with pytest.raises(StepError):
        service.record_finger_exception(draft.id, Finger.LEFT_THUMB, "luka", confirmed_by=operator)
    draft = service.record_finger_exception(draft.id, Finger.RIGHT_INDEX, "diperban / bandaged",
                                            confirmed_by=operator, attempts=2)
    exc = draft.fingers[Finger.RIGHT_INDEX]
    assert exc["exception"]["reason"] == "diperban / bandaged" and exc["attempts"] == 2 and exc["score"] is None
    assert Finger.RIGHT_INDEX.part_name not in draft.parts


def test_back_to_redoes_one_step_and_keeps_the_rest(service, outbox, operator, session_id, office_identity,
                                                    signing_key):
    payloads = Payloads.random(512)
    draft = service.start(session_id, make_resident(6), operator)
    run_to_review(service, draft.id, payloads, operator)
    assert service.get(draft.id).parts == frozenset(
        {"photo.jpg", "signature.json", "signature.png"} | {f.part_name for f in CAPTURE_ORDER})

    draft = service.back_to(draft.id, Step.PHOTO)
    assert draft.step is Step.PHOTO and "photo.jpg" not in draft.parts and draft.photo is None
    assert len(draft.fingers) == 10 and "signature.png" in draft.parts
    new_photo = b"\xff\xd8 retaken photo"
    draft = service.accept_photo(draft.id, new_photo, {"passed": True})
    assert draft.step is Step.REVIEW  # the flow returns to the first step still missing work

    draft = service.back_to(draft.id, Step.FINGERPRINTS, finger=Finger.LEFT_THUMB)
    assert draft.step is Step.FINGERPRINTS and draft.next_finger is Finger.LEFT_THUMB
    assert Finger.LEFT_THUMB.part_name not in draft.parts and len(draft.fingers) == 9
    draft = service.accept_finger(draft.id, Finger.LEFT_THUMB, b"retaken thumb", score=88, attempts=2,
                                  force_captured=False)
    assert draft.step is Step.REVIEW

    draft = service.back_to(draft.id, Step.SIGNATURE)
    assert draft.step is Step.SIGNATURE and draft.signature is None
    with pytest.raises(StepError):
        service.finish(draft.id)
    service.accept_signature(draft.id, payloads.points[:50], b"sig2", {"passed": True})
    with pytest.raises(StepError):
        service.back_to(draft.id, Step.REVIEW)
    opened = _open(outbox, service.finish(draft.id), office_identity, signing_key)
    assert opened.files["photo.jpg"] == new_photo
    assert opened.files[Finger.LEFT_THUMB.part_name] == b"retaken thumb"
    assert opened.files[Finger.RIGHT_INDEX.part_name] == payloads.fingers[Finger.RIGHT_INDEX]
    assert opened.files["signature.png"] == b"sig2" and opened.manifest["captures"]["signature"]["points"] == 50


def test_back_to_fingerprints_without_finger_discards_all_ten(service, operator, session_id):
    draft = service.start(session_id, make_resident(7), operator)
    run_to_review(service, draft.id, Payloads.random(64), operator)
    draft = service.back_to(draft.id, Step.FINGERPRINTS)
    assert draft.fingers == {} and draft.next_finger is Finger.RIGHT_INDEX
    assert draft.parts == frozenset({"photo.jpg", "signature.json", "signature.png"})


def test_start_refusals(service, operator, session_id, conn):
    service.set_start_guard(lambda: False)
    with pytest.raises(StartRefused, match="battery"):
        service.start(session_id, make_resident(8), operator)
    service.set_start_guard(lambda: True)
    service._disk_free_bytes = lambda: 12 * 1024 * 1024
    with pytest.raises(StorageFull, match="12.0 MB free, 50 MB needed"):
        service.start(session_id, make_resident(8), operator)
    service._disk_free_bytes = lambda: 10**12
    close_session(conn, session_id, operator)
    with pytest.raises(EnrollmentError, match="not open"):
        service.start(session_id, make_resident(8), operator)
    service.recipient = ""
    with pytest.raises(StartRefused, match="not provisioned"):
        service.start(open_session(conn, "61.06.01.2001", operator).id, make_resident(8), operator)
    assert conn.execute("SELECT COUNT(*) FROM drafts").fetchone()[0] == 0


def test_cancel_removes_sealed_parts(service, operator, session_id, conn):
    draft = service.start(session_id, make_resident(9), operator)
    service.confirm(draft.id, consent=True)
    service.accept_photo(draft.id, b"p", {})
    service.cancel(draft.id, operator=operator, reason="warga pulang")
    assert conn.execute("SELECT COUNT(*) FROM draft_parts").fetchone()[0] == 0
    assert service.get(draft.id).status.value == "cancelled"
    with pytest.raises(EnrollmentError, match="cancelled"):
        service.resume(draft.id)
    row = conn.execute("SELECT detail_json FROM audit_log WHERE action = 'enrollment.cancel'").fetchone()
    assert json.loads(row[0])["reason"] == "warga pulang"


def test_sessions_supersede(conn, operator):
    first = open_session(conn, "61.06.01.2001", operator)
    second = open_session(conn, "61.06.01.2002", operator)
    rows = dict(conn.execute("SELECT id, closed_at FROM sessions").fetchall())
    assert rows[first.id] is not None and rows[second.id] is None
    with pytest.raises(SessionError, match="PP.KK.CC.DDDD"):
        open_session(conn, "6106", operator)


def test_bad_capture_input_is_refused_clearly(service, operator, session_id):
    draft = service.start(session_id, make_resident(12), operator)
    service.confirm(draft.id, consent=True)
    with pytest.raises(EnrollmentError, match="photo: expected the encoded file as non-empty bytes"):
        service.accept_photo(draft.id, b"", {})
    with pytest.raises(EnrollmentError, match="got str"):
        service.accept_photo(draft.id, "not bytes", {})
    service.accept_photo(draft.id, b"jpeg", {})
    with pytest.raises(EnrollmentError, match="finger 02 image"):
        service.accept_finger(draft.id, Finger.RIGHT_INDEX, b"", score=50, attempts=1, force_captured=False)
    assert service.get(draft.id).step is Step.FINGERPRINTS and service.get(draft.id).fingers == {}


def test_unknown_operator_is_refused(service, session_id, operator):
    from station.operators import Operator

    ghost = Operator(id=999, username="ghost", display_name="Ghost", role="operator")
    with pytest.raises(EnrollmentError, match="operator 'ghost' is not known"):
        service.start(session_id, make_resident(13), ghost)
