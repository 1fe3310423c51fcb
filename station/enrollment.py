"""The enrollment workflow (DESIGN §9) as a state machine with no UI and no devices.

confirm -> photo -> fingerprints (all ten, in ``CAPTURE_ORDER``; each a capture or an operator-confirmed
exception) -> signature -> review -> done. Each accepted capture is sealed to the office at once and stored as a
draft part in the same transaction that moves the step and writes the audit entry, so a killed process resumes
at the step it reached with every earlier capture intact, and no biometric byte is ever written in plaintext.

``back_to(step)`` redoes a step: it discards that step's sealed parts (for fingerprints, one finger's when
``finger`` is given, else all ten) and keeps the rest; after the redo the flow moves to the earliest step still
missing work, so retaking the photo from review returns to review.

``finish()`` seals the manifest, builds the packet, makes its file durable, then in one transaction inserts the
outbox row, marks the draft finished, deletes its parts and audits.

The power policy stops new work through ``set_start_guard(callable)``: while it returns False, ``start()`` raises
``StartRefused``; drafts already begun can still be finished.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from station.audit import append_audit
from station.drafts import (
    PHOTO_PART,
    SIGNATURE_JSON_PART,
    SIGNATURE_PNG_PART,
    Draft,
    DraftRepo,
    DraftStatus,
    Step,
    first_incomplete,
    new_state,
)
from station.enrollment_checks import (
    DuplicateResident,
    EnrollmentError,
    StartRefused,
    StepError,
    check_finger_capture,
    require_bytes,
)
from station.errors import StorageFull
from station.events import EventBus
from station.fingers import Finger
from station.manifest import build_manifest
from station.outbox import Outbox, iso, utc_now, write_durably
from station.packets import build_packet, new_packet_id, seal_part
from station.roster import Resident
from station.sessions import OperatorLike, get_session
from station.store import transaction

__all__ = ["Draft", "DuplicateResident", "EnrollmentError", "EnrollmentService", "StartRefused", "Step",
           "StepError", "signature_json"]

DEFAULT_MIN_FREE_MB = 50


def signature_json(points: list[Any]) -> bytes:
    """The ``signature.json`` file: a JSON array of pen points ``{x, y, pressure, pen_down, t}`` (packet-format §5)."""
    rows = [asdict(p) if is_dataclass(p) else dict(p) for p in points]
    return json.dumps(rows, separators=(",", ":")).encode("utf-8")


def _file_meta(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}


class EnrollmentService:
    def __init__(self, conn: sqlite3.Connection, *, station_id: str, recipient: str, signing_key: Any,
                 outbox: Outbox, bus: EventBus | None, software_version: str,
                 biometrics_recipient: str | None = None,
                 lock: threading.RLock | None = None, min_free_mb: int = DEFAULT_MIN_FREE_MB,
                 disk_free_bytes: Callable[[], int] | None = None, finger_threshold: int = 40,
                 max_finger_attempts: int = 3) -> None:
        self.conn = conn
        self.station_id = station_id
        self.recipient = recipient
        # The office's two identities (DESIGN §5): the manifest is sealed to both, biometric parts to biometrics
        # alone. ``None`` means a one-identity office (from before the split): everything goes to ``recipient``;
        # an empty string means the station is not provisioned for recording yet.
        self.biometrics_recipient = recipient if biometrics_recipient is None else biometrics_recipient
        self.signing_key = signing_key
        self.outbox = outbox
        self.bus = bus
        self.software_version = software_version
        self.min_free_mb = min_free_mb
        self.finger_threshold = finger_threshold
        self.max_finger_attempts = max_finger_attempts
        self._lock: AbstractContextManager = lock if lock is not None else nullcontext()
        self._repo = DraftRepo(conn)
        self._disk_free_bytes = disk_free_bytes or (lambda: shutil.disk_usage(outbox.packets_dir).free)
        self._start_guard: Callable[[], bool] | None = None
        self._locked_reason: str | None = None

    def set_locked(self, reason: str | None) -> None:
        """The office locked the station (``reason``) or unlocked it (``None``): no new enrollment while locked."""
        self._locked_reason = reason

    def set_start_guard(self, guard: Callable[[], bool] | None) -> None:
        """Install the power policy's ``allows_new_enrollment``; ``None`` removes it."""
        self._start_guard = guard

    # -- starting and reading ----------------------------------------------------------------------------------
    def start(self, session_id: str, resident: Resident, operator: OperatorLike) -> Draft:
        """Begin a draft at ``confirm``; refuses duplicates, a closed session, low power and a full disk."""
        if self._locked_reason is not None:
            raise StartRefused(f"station locked by the office: {self._locked_reason or 'no reason given'}",
                               kind="locked")
        if self._start_guard is not None and not self._start_guard():
            raise StartRefused("new enrollments are paused: battery too low (connect mains power)", kind="battery")
        if not self.recipient:
            raise StartRefused("station not provisioned: office.public_key is not set, captures cannot be sealed",
                               kind="not_provisioned")
        if not self.biometrics_recipient:
            raise StartRefused("station not provisioned: office.biometrics_key is not set, captures cannot be "
                               "sealed", kind="not_provisioned")
        self._check_free_space()
        draft_id = str(uuid.uuid4())
        with self._lock:
            session = get_session(self.conn, session_id)
            if session is None or session.closed_at is not None:
                raise EnrollmentError(f"session {session_id} is not open: open a session first")
            self._refuse_duplicate(resident.nik)
            try:
                with transaction(self.conn):
                    self._repo.insert(draft_id=draft_id, session_id=session_id, nik=resident.nik,
                                      operator_id=operator.id,
                                      state=new_state(resident, operator.id, operator.username), now=utc_now())
                    append_audit(self.conn, operator.username, "enrollment.start",
                                 {"draft_id": draft_id, "nik": resident.nik, "session_id": session_id})
            except sqlite3.IntegrityError as exc:
                self._refuse_duplicate(resident.nik)
                raise EnrollmentError(f"cannot start: operator {operator.username!r} is not known here ({exc})") \
                    from exc
            draft = self._get(draft_id)
        self._publish("enrollment.started", draft)
        return draft

    def get(self, draft_id: str) -> Draft:
        with self._lock:
            return self._get(draft_id)

    def resume(self, draft_id: str) -> Draft:
        """Pick an active draft up again (after a restart or by another screen); audited."""
        with self._lock:
            draft = self._active(draft_id)
            with transaction(self.conn):
                append_audit(self.conn, draft.operator_username, "enrollment.resume",
                             {"draft_id": draft_id, "nik": draft.nik, "step": draft.step.value})
        return draft

    def active_drafts(self) -> list[Draft]:
        with self._lock:
            return [self._get(i) for i in self._repo.active_ids()]

    # -- steps --------------------------------------------------------------------------------------------------
    def confirm(self, draft_id: str, *, consent: bool) -> Draft:
        """The operator confirmed the demographic data and the resident's consent."""
        if not consent:
            raise EnrollmentError("the resident has not given consent: cancel the enrollment instead")

        def change(draft: Draft, state: dict) -> tuple[dict, dict]:
            state["consent_given_at"] = iso(utc_now())
            return {}, {"consent": True}

        return self._act(draft_id, Step.CONFIRM, "enrollment.confirm", change)

    def accept_photo(self, draft_id: str, jpeg: bytes, quality: dict) -> Draft:
        require_bytes("photo", jpeg)

        def change(draft: Draft, state: dict) -> tuple[dict, dict]:
            state["photo"] = dict(quality)
            return {PHOTO_PART: jpeg}, {"size_bytes": len(jpeg)}

        return self._act(draft_id, Step.PHOTO, "enrollment.photo", change)

    def accept_finger(self, draft_id: str, finger: Finger, png: bytes, *, score: int, attempts: int,
                      force_captured: bool) -> Draft:
        check_finger_capture(finger, score=score, attempts=attempts, force_captured=force_captured,
                             threshold=self.finger_threshold, max_attempts=self.max_finger_attempts)
        require_bytes(f"finger {finger.code} image", png)

        def change(draft: Draft, state: dict) -> tuple[dict, dict]:
            self._require_next_finger(draft, finger)
            state["fingers"][finger.code] = {"score": score, "attempts": attempts,
                                             "force_captured": bool(force_captured), "exception": None}
            return {finger.part_name: png}, {"finger": finger.code, "score": score, "attempts": attempts,
                                             "force_captured": bool(force_captured)}

        return self._act(draft_id, Step.FINGERPRINTS, "enrollment.finger", change)

    def record_finger_exception(self, draft_id: str, finger: Finger, reason: str, *, confirmed_by: OperatorLike,
                                attempts: int = 0) -> Draft:
        """No usable print for ``finger`` (missing, bandaged, ...); the confirming operator is named."""
        reason = reason.strip()
        if not reason:
            raise EnrollmentError(f"finger {finger.code}: an exception needs a reason")

        def change(draft: Draft, state: dict) -> tuple[dict, dict]:
            self._require_next_finger(draft, finger)
            state["fingers"][finger.code] = {"score": None, "attempts": attempts, "force_captured": False,
                                             "exception": {"reason": reason, "confirmed_by": confirmed_by.username,
                                                           "confirmed_by_id": confirmed_by.id}}
            return {}, {"finger": finger.code, "reason": reason, "confirmed_by": confirmed_by.username}

        return self._act(draft_id, Step.FINGERPRINTS, "enrollment.finger_exception", change)

    def accept_signature(self, draft_id: str, points: list[Any], png: bytes, quality: dict) -> Draft:
        if not points:
            raise EnrollmentError("signature: no pen points")
        require_bytes("signature image", png)
        pen = signature_json(points)

        def change(draft: Draft, state: dict) -> tuple[dict, dict]:
            state["signature"] = {**quality, "points": len(points)}
            return {SIGNATURE_JSON_PART: pen, SIGNATURE_PNG_PART: png}, {"points": len(points)}

        return self._act(draft_id, Step.SIGNATURE, "enrollment.signature", change)

    def back_to(self, draft_id: str, step: Step, *, finger: Finger | None = None) -> Draft:
        """Redo ``step`` (not a later one): discard its captures, keep the others."""
        if step in (Step.REVIEW, Step.DONE):
            raise StepError(f"cannot go back to {step.value}")
        if finger is not None and step is not Step.FINGERPRINTS:
            raise StepError("a finger can only be given with the fingerprints step")
        with self._lock:
            draft, state = self._load_active(draft_id)
            if step.index > draft.step.index:
                raise StepError(f"cannot go forward to {step.value} from {draft.step.value}")
            discard = self._discard(state, step, finger)
            with transaction(self.conn):
                self._repo.delete_parts(draft_id, discard)
                self._repo.save(draft_id, step, state, utc_now())
                append_audit(self.conn, draft.operator_username, "enrollment.back_to",
                             {"draft_id": draft_id, "nik": draft.nik, "step": step.value,
                              "finger": finger.code if finger else None, "discarded": discard})
            draft = self._get(draft_id)
        self._publish("enrollment.step", draft)
        return draft

    def cancel(self, draft_id: str, *, operator: OperatorLike, reason: str) -> None:
        with self._lock:
            draft, state = self._load_active(draft_id)
            with transaction(self.conn):
                self._repo.delete_parts(draft_id)
                self._repo.save(draft_id, draft.step, state, utc_now(), DraftStatus.CANCELLED)
                append_audit(self.conn, operator.username, "enrollment.cancel",
                             {"draft_id": draft_id, "nik": draft.nik, "step": draft.step.value, "reason": reason})
        if self.bus:
            self.bus.publish("enrollment.cancelled", draft_id=draft_id, nik=draft.nik)

    def finish(self, draft_id: str) -> str:
        """Seal the record and queue it; returns the packet id. Atomic: the outbox row commits after the file."""
        with self._lock:
            draft, state = self._load_active(draft_id)
            if draft.step is not Step.REVIEW:
                raise StepError(f"cannot finish at step {draft.step.value}: the record is not complete")
            parts = self._repo.parts(draft_id)
            session = get_session(self.conn, draft.session_id)
            packet_id = new_packet_id()
            finished = utc_now()
            manifest = build_manifest(
                packet_id=packet_id, station_id=self.station_id, draft=draft, state=state,
                session_kode_desa=session.kode_desa if session else draft.resident.kode_desa,
                files={name: meta for name, (_, meta) in parts.items()}, finished=finished,
                software_version=self.software_version,
            )
            sealed = {f"{name}.age": blob for name, (blob, _) in parts.items()}
            sealed["manifest.json.age"] = seal_part(json.dumps(manifest, sort_keys=True).encode(),
                                                  self._manifest_recipients())
            data = build_packet(packet_id=packet_id, station_id=self.station_id, created=finished,
                                sealed_parts=sealed, signing_key=self.signing_key)
            self._commit_packet(draft, state, packet_id, data, finished)
        if self.bus:
            self.bus.publish("enrollment.finished", draft_id=draft_id, packet_id=packet_id, nik=draft.nik)
        return packet_id

    # -- internals ----------------------------------------------------------------------------------------------
    def _manifest_recipients(self) -> list[str]:
        return list(dict.fromkeys([self.recipient, self.biometrics_recipient]))

    def _commit_packet(self, draft: Draft, state: dict, packet_id: str, data: bytes, now: datetime) -> None:
        path = self.outbox.path_for(packet_id)
        write_durably(path, data)
        try:
            with transaction(self.conn):
                self.outbox.insert_sealed(self.conn, packet_id=packet_id, nik=draft.nik,
                                          session_id=draft.session_id, size_bytes=len(data),
                                          sha256=hashlib.sha256(data).hexdigest(), created_at=now)
                self._repo.save(draft.id, Step.DONE, state, now, DraftStatus.FINISHED)
                self._repo.delete_parts(draft.id)
                append_audit(self.conn, draft.operator_username, "enrollment.finish",
                             {"draft_id": draft.id, "nik": draft.nik, "packet_id": packet_id,
                              "size_bytes": len(data)})
        except BaseException:
            path.unlink(missing_ok=True)  # the draft is untouched: finishing again makes a new packet
            raise

    def _act(self, draft_id: str, step: Step, action: str,
             change: Callable[[Draft, dict], tuple[dict[str, bytes], dict]]) -> Draft:
        """Run one step action: check the step, seal the new plaintexts, then save all in one transaction."""
        with self._lock:
            draft, state = self._load_active(draft_id)
            if draft.step is not step:
                raise StepError(f"draft is at step {draft.step.value}, not {step.value}")
            plaintexts, detail = change(draft, state)
            sealed = {name: (seal_part(data, self.biometrics_recipient), _file_meta(data))
                      for name, data in plaintexts.items()}
            new_step = first_incomplete(state)
            now = utc_now()
            with transaction(self.conn):
                for name, (blob, meta) in sealed.items():
                    self._repo.put_part(draft_id, name, blob, meta, now)
                self._repo.save(draft_id, new_step, state, now)
                append_audit(self.conn, draft.operator_username, action,
                             {"draft_id": draft_id, "nik": draft.nik, **detail})
            draft = self._get(draft_id)
        self._publish("enrollment.step", draft)
        return draft

    @staticmethod
    def _discard(state: dict, step: Step, finger: Finger | None) -> list[str]:
        """Clear ``step``'s work in ``state``; returns the part names to delete."""
        if step is Step.CONFIRM:
            state["consent_given_at"] = None
            return []
        if step is Step.PHOTO:
            state["photo"] = None
            return [PHOTO_PART]
        if step is Step.FINGERPRINTS:
            codes = [finger.code] if finger else list(state["fingers"])
            for code in codes:
                state["fingers"].pop(code, None)
            return [Finger(int(c)).part_name for c in codes]
        state["signature"] = None
        return [SIGNATURE_JSON_PART, SIGNATURE_PNG_PART]

    @staticmethod
    def _require_next_finger(draft: Draft, finger: Finger) -> None:
        if draft.next_finger is not finger:
            expected = draft.next_finger.code if draft.next_finger else "none"
            raise StepError(f"finger {finger.code} is out of order: the next finger is {expected} "
                            f"(use back_to to retake one already recorded)")

    def _refuse_duplicate(self, nik: str) -> None:
        row = self.conn.execute("SELECT packet_id, state FROM outbox WHERE nik = ?", (nik,)).fetchone()
        if row:
            raise DuplicateResident(f"NIK {nik} is already recorded at this station (packet {row[0]}, {row[1]})")
        active = self._repo.active_for_nik(nik)
        if active:
            raise DuplicateResident(f"NIK {nik} already has an enrollment in progress (draft {active}): resume it")

    def _check_free_space(self) -> None:
        try:
            free = self._disk_free_bytes()
        except OSError as exc:
            raise StorageFull(f"cannot check free space: {exc}") from exc
        if free < self.min_free_mb * 1024 * 1024:
            raise StorageFull(
                f"storage is nearly full: {free / 1024 / 1024:.1f} MB free, {self.min_free_mb} MB needed to start "
                "an enrollment (upload and purge records, or free space on the SD card)"
            )

    def _get(self, draft_id: str) -> Draft:
        loaded = self._repo.load(draft_id)
        if loaded is None:
            raise EnrollmentError(f"no draft {draft_id}")
        return loaded[0]

    def _load_active(self, draft_id: str) -> tuple[Draft, dict]:
        loaded = self._repo.load(draft_id)
        if loaded is None:
            raise EnrollmentError(f"no draft {draft_id}")
        if loaded[0].status is not DraftStatus.ACTIVE:
            raise EnrollmentError(f"draft {draft_id} is {loaded[0].status.value}")
        return loaded

    def _active(self, draft_id: str) -> Draft:
        return self._load_active(draft_id)[0]

    def _publish(self, topic: str, draft: Draft) -> None:
        if self.bus:
            nxt = draft.next_finger.code if draft.next_finger else None
            self.bus.publish(topic, draft_id=draft.id, nik=draft.nik, step=draft.step.value, next_finger=nxt)

