"""The enrollment workflow's errors and the checks on what callers hand it, split from ``station.enrollment``.

``station.enrollment`` re-exports the errors, so callers keep importing them from there.
"""

from __future__ import annotations

from typing import Any

from station.errors import JemputError
from station.fingers import Finger


class EnrollmentError(JemputError):
    """The workflow refused an action; the message says why and what to do."""


class DuplicateResident(EnrollmentError):
    """The NIK is already recorded at this station, or has an enrollment in progress."""


class StepError(EnrollmentError):
    """The action does not belong to the draft's current step (steps cannot be skipped)."""


class StartRefused(EnrollmentError):
    """New enrollments are paused (the power policy said no, or the station is not provisioned).

    ``kind`` says why, for front ends that show their own translated text: ``locked`` (by the office),
    ``battery`` or ``not_provisioned``."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def require_bytes(what: str, data: Any) -> None:
    """Captures arrive as their encoded file: refuse anything else (None, empty, an array) before sealing."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise EnrollmentError(f"{what}: expected the encoded file as non-empty bytes, got {type(data).__name__}")


def check_finger_capture(finger: Finger, *, score: int, attempts: int, force_captured: bool, threshold: int,
                         max_attempts: int) -> None:
    """The workflow, not only the capture screen, holds the rule: a print below the threshold is kept only as
    the best of all attempts, and then it is flagged."""
    if not 0 <= score <= 100 or not 1 <= attempts <= max_attempts:
        raise EnrollmentError(f"finger {finger.code}: score must be 0-100 and attempts "
                              f"1-{max_attempts}")
    if force_captured and attempts < max_attempts:
        raise EnrollmentError(f"finger {finger.code}: force_captured only after "
                              f"{max_attempts} attempts")
    if not force_captured and score < threshold:
        raise EnrollmentError(f"finger {finger.code}: score {score} is below the threshold "
                              f"{threshold}; retry, or keep the best after the last attempt")
