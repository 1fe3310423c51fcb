"""A synthetic camera for tests, the demo and ``--simulate``.

It streams the committed public-domain portrait (device_drivers/assets/portrait.jpg) cut out onto a plain
backdrop, the way a mobile recording station hangs a blue cloth behind the resident, with a little sway and
sensor noise on every frame, so the live photo checks see a moving, noisy, realistic face. Scenes reproduce the
failures the checks must catch: nobody there, two people, too dark, out of focus, off to one side, too far,
too close, head tilted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from device_drivers.base import Health
from device_drivers.camera.base import Camera
from device_drivers.errors import DeviceDisconnected

# Where things are in portrait.jpg (512x512): the Haar face box centre and size, the head ellipse, the body.
_FACE_CENTRE = (224.5, 113.5)
_FACE_SIZE_PX = 95.0
_HAIR = ((227, 86), (74, 71))
_JAW = ((224, 136), (44, 50))
_BODY = np.array([[120, 158], [180, 168], [272, 168], [306, 152], [312, 220], [300, 265], [350, 290], [365, 330],
                  [410, 512], [20, 512], [40, 310], [105, 250]], np.int32)
_BACKDROP_BGR = (178, 112, 48)  # the blue cloth behind the resident


@dataclass(frozen=True)
class _Person:
    """One person in a scene: face centre as a fraction of the frame, face height as a fraction of frame height."""

    x_frac: float
    y_frac: float
    face_frac: float
    roll_deg: float = 0.0


@dataclass(frozen=True)
class _Scene:
    people: tuple[_Person, ...]
    gain: float = 1.0  # exposure
    blur_sigma_frac: float = 0.0  # defocus, as a fraction of frame height


_GOOD = _Person(0.5, 0.44, 0.36)
SCENES: dict[str, _Scene] = {
    "portrait": _Scene((_GOOD,)),
    "no_face": _Scene(()),
    "two_faces": _Scene((_Person(0.27, 0.45, 0.27), _Person(0.73, 0.45, 0.27))),
    "dark": _Scene((_GOOD,), gain=0.2),
    "bright": _Scene((_GOOD,), gain=1.6),
    "blurred": _Scene((_GOOD,), blur_sigma_frac=0.009),
    "off_centre": _Scene((_Person(0.2, 0.44, 0.36),)),
    "far": _Scene((_Person(0.5, 0.44, 0.14),)),
    "close": _Scene((_Person(0.5, 0.5, 0.64),)),
    "tilted": _Scene((_Person(0.5, 0.44, 0.36, roll_deg=19.0),)),
}


@lru_cache(maxsize=1)
def _portrait_layers() -> tuple[np.ndarray, np.ndarray]:
    """The portrait and its person mask (float32 0..1, feathered)."""
    data = resources.files("device_drivers.assets").joinpath("portrait.jpg").read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError("device_drivers/assets/portrait.jpg is missing or not a JPEG")
    mask = np.zeros(image.shape[:2], np.uint8)
    for centre, axes in (_HAIR, _JAW):
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    cv2.fillPoly(mask, [_BODY], 255)
    mask = cv2.GaussianBlur(mask, (0, 0), 2.0).astype(np.float32) / 255.0
    return image, mask


def render_scene(name: str, width: int, height: int) -> np.ndarray:
    """The still scene (BGR uint8) before motion and noise."""
    scene = SCENES[name]
    image, mask = _portrait_layers()
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    backdrop = np.array(_BACKDROP_BGR, np.float32) * (1.06 - 0.12 * ys)  # gentle light fall-off, still plain
    canvas = np.broadcast_to(backdrop, (height, width, 3)).copy()
    for person in scene.people:
        scale = person.face_frac * height / _FACE_SIZE_PX
        m = cv2.getRotationMatrix2D(_FACE_CENTRE, person.roll_deg, scale)
        m[0, 2] += person.x_frac * width - _FACE_CENTRE[0]
        m[1, 2] += person.y_frac * height - _FACE_CENTRE[1]
        layer = cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, m, (width, height))[:, :, None]
        canvas = canvas * (1.0 - alpha) + layer.astype(np.float32) * alpha
    if scene.blur_sigma_frac:
        canvas = cv2.GaussianBlur(canvas, (0, 0), scene.blur_sigma_frac * height)
    return np.clip(canvas * scene.gain, 0, 255).astype(np.uint8)


class SyntheticCamera(Camera):
    """Streams a scene with sway and sensor noise; ``unplug()``/``replug()`` simulate a USB camera coming and going.

    Frames are deterministic for a given seed and frame number. With ``pace`` it sleeps to deliver ``fps``.
    """

    source_name = "synthetic"

    def __init__(self, width: int = 640, height: int = 480, scene: str = "portrait", seed: int = 0, *,
                 fps: float = 15.0, pace: bool = True, noise_sigma: float = 3.0) -> None:
        super().__init__(width, height)
        if fps <= 0:
            raise ValueError(f"fps must be positive, not {fps}")
        self.fps = fps
        self.pace = pace
        self.frame_number = 0
        self._rng = np.random.default_rng(seed)
        self._phase = self._rng.uniform(0, 2 * math.pi, size=3)
        self._noise = [self._rng.normal(0, noise_sigma, (height, width, 3)).astype(np.int16) for _ in range(4)]
        self._next_due = 0.0
        self._unplugged = False
        self.scene = ""
        self._still: np.ndarray | None = None
        self.set_scene(scene)

    def set_scene(self, scene: str) -> None:
        """Switch what is in front of the camera (tests and the simulator panel)."""
        if scene not in SCENES:
            raise ValueError(f"unknown scene {scene!r}; choose from {', '.join(SCENES)}")
        still = render_scene(scene, self.width, self.height)
        with self._lock:
            self.scene, self._still = scene, still

    def unplug(self) -> None:
        self._unplugged = True
        self._set_health(Health.ABSENT, "camera unplugged (simulated)")

    def replug(self) -> None:
        self._unplugged = False
        self._set_health(Health.OK)

    def _read(self) -> np.ndarray:
        if self._unplugged:
            raise DeviceDisconnected("camera unplugged (simulated)", port=self.source_name)
        if self.pace:
            now = time.monotonic()
            if self._next_due > now:
                time.sleep(self._next_due - now)
            self._next_due = max(now, self._next_due) + 1.0 / self.fps
        n = self.frame_number
        self.frame_number += 1
        return self._render(n)

    def _render(self, n: int) -> np.ndarray:
        """Sway: a few pixels of drift and about a degree of roll, like someone sitting still-ish."""
        assert self._still is not None
        t = n / 15.0
        dx = 0.007 * self.width * math.sin(2 * math.pi * t / 3.1 + self._phase[0])
        dy = 0.005 * self.height * math.sin(2 * math.pi * t / 4.3 + self._phase[1])
        roll = 1.0 * math.sin(2 * math.pi * t / 5.7 + self._phase[2])
        m = cv2.getRotationMatrix2D((self.width / 2, self.height / 2), roll, 1.0)
        m[0, 2] += dx
        m[1, 2] += dy
        moved = cv2.warpAffine(self._still, m, (self.width, self.height), borderMode=cv2.BORDER_REPLICATE)
        noise = self._noise[n % len(self._noise)]
        return cv2.add(moved, noise, dtype=cv2.CV_8U)
