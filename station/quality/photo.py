"""ICAO-style photo checks, fast enough to run on every preview frame.

The resident sees one short hint at a time ("Mendekat ke kamera") and the photo is taken automatically when every
check passes, so the checks must be cheap (< 15 ms on 640x480) and stable across noisy frames. Faces come from
OpenCV's Haar cascade on a 160-pixel-wide grey copy (a 256-wide pass only when nothing is found there, so a far
face still gets "move closer" rather than "no face"); eyes from the eye cascade inside the face; the rest is
simple statistics. Thresholds live in ``PhotoThresholds`` and are documented in docs/capture-quality.md.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


class Check(enum.StrEnum):
    """The checks, in the order their hints are shown."""

    ONE_FACE = "one_face"
    EXPOSURE = "exposure"
    FACE_SIZE = "face_size"
    CENTRED = "centred"
    EYE_LINE = "eye_line"
    EYE_POSITION = "eye_position"
    SHARPNESS = "sharpness"
    BACKGROUND = "background"


#: hint key -> (Bahasa Indonesia, English). The kiosk may translate the key itself; these are the defaults.
HINTS: dict[str, tuple[str, str]] = {
    "no_face": ("Wajah tidak terlihat, lihat ke kamera", "No face found, look at the camera"),
    "many_faces": ("Hanya satu orang di depan kamera", "Only one person in front of the camera"),
    "too_far": ("Mendekat ke kamera", "Move closer"),
    "too_close": ("Mundur sedikit dari kamera", "Move back a little"),
    "off_centre": ("Geser ke tengah", "Move to the centre"),
    "tilted": ("Lihat lurus ke kamera", "Look straight at the camera"),
    "eyes_not_found": ("Buka mata dan lihat lurus ke kamera", "Open your eyes and look straight at the camera"),
    "eyes_too_high": ("Turunkan sedikit posisi wajah", "Lower your face a little"),
    "eyes_too_low": ("Naikkan sedikit posisi wajah", "Raise your face a little"),
    "blurred": ("Foto buram, jangan bergerak", "Photo is blurred, hold still"),
    "too_dark": ("Wajah terlalu gelap", "Face too dark"),
    "too_bright": ("Wajah terlalu terang", "Face too bright"),
    "background": ("Latar belakang harus polos", "Background must be plain"),
}
OK_HINT = ("Bagus, tahan posisi", "Good, hold still")


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    value: float
    hint_id: str = ""
    hint_en: str = ""
    hint_key: str = ""


@dataclass(frozen=True)
class PhotoQuality:
    passed: bool
    checks: list[CheckResult]
    face: Box | None
    eyes: tuple[tuple[int, int], tuple[int, int]] | None = None
    frame_size: tuple[int, int] = (0, 0)  # width, height

    def hints(self, lang: str = "id") -> list[str]:
        """Hints of the failing checks, most important first (show the first one)."""
        return [c.hint_en if lang == "en" else c.hint_id for c in self.checks if not c.passed]

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict:
        """For the record manifest: plain JSON types only."""
        return {
            "passed": self.passed,
            "face": list(self.face) if self.face else None,
            "checks": {c.name: {"passed": c.passed, "value": round(c.value, 4)} for c in self.checks},
        }


@dataclass(frozen=True)
class PhotoThresholds:
    face_height_min_frac: float = 0.25  # face box height / frame height
    face_height_max_frac: float = 0.55
    centre_max_dx_frac: float = 0.12  # |face centre x - frame centre x| / frame width
    centre_y_frac: float = 0.42  # where the face centre should sit, from the top
    centre_max_dy_frac: float = 0.15
    max_roll_deg: float = 8.0  # eye line slope
    # ICAO 9303: eyes 50-70 % of the photo height above its bottom edge. The crop puts them at ~42 % from the top
    # (58 % from the bottom); we accept 30-50 % from the top, i.e. the ICAO band, measured on the 3:4 crop.
    eye_line_min_from_top_frac: float = 0.30
    eye_line_max_from_top_frac: float = 0.50
    min_sharpness: float = 0.03  # var(Laplacian) / var(face), on a 96x96 face
    exposure_min: float = 70.0  # mean grey of the face
    exposure_max: float = 200.0
    max_clipped_frac: float = 0.15  # face pixels <= 5 or >= 250
    background_max_std: float = 14.0  # grey-level std of each patch beside / above the head
    min_person_frac: float = 0.5  # faces smaller than this x the largest are ignored (posters, far bystanders)


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV Haar cascade {path} is missing: install opencv-python-headless>=4.10,<5")
    return cascade


@dataclass
class PhotoChecker:
    """Runs the checks on BGR frames. One instance per preview stream (cascades are not thread-safe)."""

    thresholds: PhotoThresholds = field(default_factory=PhotoThresholds)
    coarse_width_px: int = 160
    fine_width_px: int = 256

    def __post_init__(self) -> None:
        self._faces = _cascade("haarcascade_frontalface_default.xml")
        self._eyes = _cascade("haarcascade_eye.xml")
        self._eyes_loose = _cascade("haarcascade_eye_tree_eyeglasses.xml")

    # detection -------------------------------------------------------------------------------------------
    def _detect(self, grey: np.ndarray, width_px: int, min_px: int, *, max_px: int = 0, scale_factor: float = 1.2,
                equalise: bool = False, small: np.ndarray | None = None) -> list[Box]:
        scale = width_px / grey.shape[1]
        if small is None or small.shape[1] != width_px:
            small = _shrink(grey, width_px)
        if equalise:
            small = cv2.equalizeHist(small)
        # minNeighbors=2: on frames this small, 3 loses real faces now and then; 2 gave no false positives on the
        # synthetic scenes and a stray hit only costs one hint on one preview frame.
        found = self._faces.detectMultiScale(small, scaleFactor=scale_factor, minNeighbors=2,
                                             minSize=(min_px, min_px), maxSize=(max_px, max_px))
        return [tuple(int(round(v / scale)) for v in box) for box in found]  # type: ignore[misc]

    def find_faces(self, grey: np.ndarray, coarse: np.ndarray | None = None) -> list[Box]:
        """Faces of the people in front of the camera, largest first. ``coarse``: ``grey`` already shrunk to
        ``coarse_width_px`` (``check`` shares it with the background check)."""
        faces = self._detect(grey, self.coarse_width_px, 24, small=coarse)
        if not faces:
            # The coarse pass already searched faces >= 24 px at its scale; look only for smaller ones.
            below = int(24 * self.fine_width_px / self.coarse_width_px) + 8
            faces = self._detect(grey, self.fine_width_px, 24, max_px=below, scale_factor=1.15)
        if not faces and not 60 <= float(grey.mean()) <= 190:
            faces = self._detect(grey, self.fine_width_px, 24, equalise=True)
        faces.sort(key=lambda b: b[2] * b[3], reverse=True)
        if faces:
            largest = faces[0][3]
            faces = [b for b in faces if b[3] >= self.thresholds.min_person_frac * largest]
        return faces

    def find_eyes(self, grey: np.ndarray, face: Box) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Centres of the left-image and right-image eye, or None when neither pass finds both.

        The strict pass (eye cascade, minNeighbors=3) is tried first; only if it misses, a permissive pass
        (glasses-tolerant cascade on the equalised region, minNeighbors=2) runs, so a missed good frame does not
        tell the resident to open their eyes, while closed or covered eyes still find nothing in either pass.
        """
        x, y, w, h = face
        top = y + int(0.15 * h)
        roi = grey[max(top, 0):y + int(0.55 * h), max(x, 0):x + w]
        if roi.size == 0:
            return None
        k = 110.0 / w
        roi = cv2.resize(roi, None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
        found = self._eyes.detectMultiScale(roi, scaleFactor=1.15, minNeighbors=3, minSize=(18, 18),
                                            maxSize=(44, 44))
        eyes = _pick_eyes(found, k, max(x, 0), max(top, 0), face)
        if eyes is None:
            found = self._eyes_loose.detectMultiScale(cv2.equalizeHist(roi), scaleFactor=1.1, minNeighbors=2,
                                                      minSize=(16, 16), maxSize=(48, 48))
            eyes = _pick_eyes(found, k, max(x, 0), max(top, 0), face)
        return eyes

    # the checks ------------------------------------------------------------------------------------------
    def check(self, frame_bgr: np.ndarray) -> PhotoQuality:
        """All checks on one frame. Face-dependent checks run only when exactly one face is found."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"expected a BGR frame (H, W, 3), got shape {frame_bgr.shape}")
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape
        coarse = _shrink(grey, self.coarse_width_px)
        faces = self.find_faces(grey, coarse)
        if len(faces) != 1:
            key = "no_face" if not faces else "many_faces"
            checks = [_result(Check.ONE_FACE, False, len(faces), key), self._frame_exposure(grey)]
            return PhotoQuality(False, checks, None, None, (w, h))
        face = _clip_box(faces[0], w, h)
        eyes = self.find_eyes(grey, face)
        checks = [
            _result(Check.ONE_FACE, True, 1),
            self._exposure(grey, face),
            self._size(face, h),
            self._centring(face, w, h),
            self._eye_line(eyes),
            self._eye_position((w, h), face, eyes),
            self._sharpness(grey, face),
            self._background(coarse, face, self.coarse_width_px / w),
        ]
        return PhotoQuality(all(c.passed for c in checks), checks, face, eyes, (w, h))

    def _frame_exposure(self, grey: np.ndarray) -> CheckResult:
        mean = float(grey.mean())
        if mean < 40:
            return _result(Check.EXPOSURE, False, mean, "too_dark")
        if mean > 225:
            return _result(Check.EXPOSURE, False, mean, "too_bright")
        return _result(Check.EXPOSURE, True, mean)

    def _exposure(self, grey: np.ndarray, face: Box) -> CheckResult:
        x, y, w, h = face
        roi = grey[y + h // 6:y + h - h // 6, x + w // 6:x + w - w // 6]  # skin, not hair or backdrop
        t = self.thresholds
        mean = float(roi.mean())
        dark = float(np.count_nonzero(roi <= 5)) / roi.size
        bright = float(np.count_nonzero(roi >= 250)) / roi.size
        if mean < t.exposure_min or dark > t.max_clipped_frac:
            return _result(Check.EXPOSURE, False, mean, "too_dark")
        if mean > t.exposure_max or bright > t.max_clipped_frac:
            return _result(Check.EXPOSURE, False, mean, "too_bright")
        return _result(Check.EXPOSURE, True, mean)

    def _size(self, face: Box, frame_h: int) -> CheckResult:
        frac = face[3] / frame_h
        t = self.thresholds
        if frac < t.face_height_min_frac:
            return _result(Check.FACE_SIZE, False, frac, "too_far")
        if frac > t.face_height_max_frac:
            return _result(Check.FACE_SIZE, False, frac, "too_close")
        return _result(Check.FACE_SIZE, True, frac)

    def _centring(self, face: Box, frame_w: int, frame_h: int) -> CheckResult:
        x, y, w, h = face
        t = self.thresholds
        dx = abs(x + w / 2 - frame_w / 2) / frame_w
        dy = abs(y + h / 2 - t.centre_y_frac * frame_h) / frame_h
        ok = dx <= t.centre_max_dx_frac and dy <= t.centre_max_dy_frac
        return _result(Check.CENTRED, ok, max(dx, dy), "" if ok else "off_centre")

    def _eye_line(self, eyes: tuple[tuple[int, int], tuple[int, int]] | None) -> CheckResult:
        """Both eyes found (open, looking at the camera) and level. Value: roll in degrees (90 without eyes)."""
        if eyes is None:
            # Two cascade passes found no pair in a face the face cascade accepted: closed or covered eyes, or a
            # look away. (A dark face also loses its eyes; the exposure hint comes first then.)
            return _result(Check.EYE_LINE, False, 90.0, "eyes_not_found")
        (lx, ly), (rx, ry) = eyes
        roll = abs(math.degrees(math.atan2(ry - ly, rx - lx)))
        ok = roll <= self.thresholds.max_roll_deg
        return _result(Check.EYE_LINE, ok, roll, "" if ok else "tilted")

    def _eye_position(self, frame_size: tuple[int, int], face: Box,
                      eyes: tuple[tuple[int, int], tuple[int, int]] | None) -> CheckResult:
        """Where the eye line sits in the 3:4 crop, as a fraction of its height from the top (ICAO band)."""
        frac = eye_line_in_crop(frame_size, face, eyes)
        t = self.thresholds
        if frac < t.eye_line_min_from_top_frac:
            return _result(Check.EYE_POSITION, False, frac, "eyes_too_high")
        if frac > t.eye_line_max_from_top_frac:
            return _result(Check.EYE_POSITION, False, frac, "eyes_too_low")
        return _result(Check.EYE_POSITION, True, frac)

    def _sharpness(self, grey: np.ndarray, face: Box) -> CheckResult:
        x, y, w, h = face
        roi = cv2.resize(grey[y:y + h, x:x + w], (96, 96), interpolation=cv2.INTER_AREA).astype(np.float32)
        # Normalised by the face's own contrast so a dim face is not called blurred.
        sharpness = float(cv2.Laplacian(roi, cv2.CV_32F).var()) / (float(roi.var()) + 1.0)
        ok = sharpness >= self.thresholds.min_sharpness
        return _result(Check.SHARPNESS, ok, sharpness, "" if ok else "blurred")

    def _background(self, small: np.ndarray, face: Box, scale: float) -> CheckResult:
        """Patches left and right of the head and above it should be one plain colour. ``small``: the grey frame
        shrunk by ``scale`` (the face detector's coarse copy, reused)."""
        x, y, w, h = (v * scale for v in face)
        patches = [
            (x - 0.85 * w, y - 0.3 * h, x - 0.4 * w, y + 0.6 * h),
            (x + 1.4 * w, y - 0.3 * h, x + 1.85 * w, y + 0.6 * h),
            (x, y - 0.95 * h, x + w, y - 0.7 * h),
        ]
        stds = []
        for x0, y0, x1, y1 in patches:
            x0, y0 = max(int(x0), 0), max(int(y0), 0)
            x1, y1 = min(int(x1), small.shape[1]), min(int(y1), small.shape[0])
            if (x1 - x0) * (y1 - y0) >= 20:
                stds.append(float(small[y0:y1, x0:x1].std()))
        worst = max(stds, default=0.0)
        ok = worst <= self.thresholds.background_max_std
        return _result(Check.BACKGROUND, ok, worst, "" if ok else "background")


def _result(name: Check, passed: bool, value: float, hint_key: str = "") -> CheckResult:
    hint_id, hint_en = HINTS.get(hint_key, ("", ""))
    return CheckResult(str(name), passed, float(value), hint_id, hint_en, hint_key)


def _pick_eyes(found: np.ndarray | tuple, k: float, x0: int, y0: int,
               face: Box) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """One eye each side of the face's midline from cascade boxes (in the ROI scaled by k), or None."""
    x, y, w, h = face
    centres = [((ex + ew / 2) / k + x0, (ey + eh / 2) / k + y0) for ex, ey, ew, eh in found]
    left = [c for c in centres if c[0] < x + w / 2]
    right = [c for c in centres if c[0] >= x + w / 2]
    if not left or not right:
        return None
    # Outermost-but-highest guesses are brows; take the candidate closest to the expected eye height.
    expected_y = y + EYE_Y_PER_FACE_BOX * h
    le = min(left, key=lambda c: abs(c[1] - expected_y))
    re = min(right, key=lambda c: abs(c[1] - expected_y))
    return (round(le[0]), round(le[1])), (round(re[0]), round(re[1]))


def _shrink(grey: np.ndarray, width_px: int) -> np.ndarray:
    h, w = grey.shape
    return cv2.resize(grey, (width_px, max(1, round(h * width_px / w))), interpolation=cv2.INTER_AREA)


def _clip_box(box: Box, w: int, h: int) -> Box:
    x, y, bw, bh = box
    x0, y0 = max(x, 0), max(y, 0)
    return x0, y0, min(x + bw, w) - x0, min(y + bh, h) - y0


# cropping --------------------------------------------------------------------------------------------------
HEAD_PER_FACE_BOX = 1.45  # crown-to-chin height / face box height (measured with this detector set-up)
HEAD_FRACTION = 0.65  # ICAO: the head fills 60-70 % of the photo height
CROWN_MARGIN_FRACTION = 0.10  # space above the crown, of the photo height
EYE_Y_PER_FACE_BOX = 0.38  # eye line below the face box top / face box height (this detector set-up)


def portrait_box(frame_size: tuple[int, int], face: Box) -> Box:
    """The 3:4 crop (x, y, w, h) around a face, shrunk to fit inside the frame if needed."""
    frame_w, frame_h = frame_size
    x, y, w, h = face
    crop_h = HEAD_PER_FACE_BOX * h / HEAD_FRACTION
    crop_h = min(crop_h, frame_h, frame_w * 4 / 3)
    crop_w = crop_h * 3 / 4
    crown_y = y + h / 2 - HEAD_PER_FACE_BOX * h * 0.6  # the face box centre sits below mid-head
    top = crown_y - CROWN_MARGIN_FRACTION * crop_h
    left = x + w / 2 - crop_w / 2
    top = min(max(top, 0.0), frame_h - crop_h)
    left = min(max(left, 0.0), frame_w - crop_w)
    unit = int(crop_w // 3)  # exact 3:4 in whole pixels
    return int(left), int(top), 3 * unit, 4 * unit


def eye_line_in_crop(frame_size: tuple[int, int], face: Box,
                     eyes: tuple[tuple[int, int], tuple[int, int]] | None = None) -> float:
    """Height of the eye line in the ``portrait_box`` crop, as a fraction from its top (0 top, 1 bottom).

    Uses the detected eyes, or the face box's typical eye height when there are none."""
    _x, top, _w, crop_h = portrait_box(frame_size, face)
    eye_y = (eyes[0][1] + eyes[1][1]) / 2 if eyes else face[1] + EYE_Y_PER_FACE_BOX * face[3]
    return (eye_y - top) / crop_h if crop_h else 0.0


def crop_portrait(frame_bgr: np.ndarray, quality: PhotoQuality, *, width_px: int | None = None) -> np.ndarray:
    """The ICAO-style 3:4 portrait (head ~65 % of the height) around the checked face; optionally resized."""
    if quality.face is None:
        raise ValueError("no single face in this frame to crop around")
    h, w = frame_bgr.shape[:2]
    x, y, cw, ch = portrait_box((w, h), quality.face)
    crop = frame_bgr[y:y + ch, x:x + cw].copy()
    if width_px:
        crop = cv2.resize(crop, (width_px, width_px * 4 // 3), interpolation=cv2.INTER_AREA)
    return crop


__all__ = ["HINTS", "Check", "CheckResult", "PhotoChecker", "PhotoQuality", "PhotoThresholds", "crop_portrait",
           "eye_line_in_crop", "portrait_box"]
