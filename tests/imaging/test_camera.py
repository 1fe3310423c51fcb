"""Camera backends: the synthetic stream looks like one face, OpenCVCamera really reads through cv2.VideoCapture
(a video file stands in for a webcam), missing cameras are *absent* with a reason and come back when replugged."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from device_drivers.base import Health
from device_drivers.camera import (
    SCENES,
    Camera,
    OpenCVCamera,
    Picamera2Camera,
    SyntheticCamera,
    open_camera,
)
from device_drivers.errors import DeviceDisconnected

FACE_CASCADE = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def faces(frame: np.ndarray) -> int:
    assert not FACE_CASCADE.empty(), "OpenCV's Haar cascades are missing (need opencv-python-headless 4.x)"
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return len(FACE_CASCADE.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40)))


def test_synthetic_portrait_shows_exactly_one_face_on_every_frame() -> None:
    with SyntheticCamera(pace=False, seed=1) as cam:
        frames = [cam.read() for _ in range(12)]
    for frame in frames[::2]:
        assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
        assert faces(frame) == 1
    # The stream moves and is noisy: consecutive frames differ, but only a little.
    diff = np.abs(frames[0].astype(int) - frames[5].astype(int)).mean()
    assert 0.5 < diff < 30


def test_synthetic_scenes_change_what_the_detector_sees() -> None:
    cam = SyntheticCamera(pace=False, scene="no_face")
    assert faces(cam.read()) == 0
    cam.set_scene("two_faces")
    assert faces(cam.read()) == 2
    with pytest.raises(ValueError, match="unknown scene"):
        cam.set_scene("beach")
    assert set(SCENES) >= {"portrait", "no_face", "two_faces", "dark", "blurred", "off_centre", "far"}


def test_synthetic_is_deterministic_per_seed_and_honours_size() -> None:
    a = SyntheticCamera(320, 240, pace=False, seed=7)
    b = SyntheticCamera(320, 240, pace=False, seed=7)
    fa, fb = a.read(), b.read()
    assert fa.shape == (240, 320, 3)
    assert np.array_equal(fa, fb)


def test_synthetic_paces_to_fps() -> None:
    import time

    cam = SyntheticCamera(160, 120, fps=50.0)
    start = time.monotonic()
    for _ in range(6):
        cam.read()
    assert time.monotonic() - start >= 5 / 50.0 * 0.9


def test_synthetic_unplug_and_replug() -> None:
    cam = SyntheticCamera(pace=False)
    cam.unplug()
    assert cam.status().health is Health.ABSENT and "unplugged" in cam.status().reason
    with pytest.raises(DeviceDisconnected):
        cam.read()
    cam.replug()
    assert cam.status().health is Health.OK
    assert cam.read().shape == (480, 640, 3)
    cam.close()
    cam.close()  # idempotent
    assert cam.status().health is Health.ABSENT
    with pytest.raises(DeviceDisconnected):
        cam.read()


def test_frames_iterator_stops_when_closed() -> None:
    cam = SyntheticCamera(160, 120, pace=False)
    seen = 0
    for _frame in cam.frames():
        seen += 1
        if seen == 3:
            cam.close()
    assert seen == 3


def test_opencv_missing_device_is_absent_with_reason(tmp_path: Path) -> None:
    missing = tmp_path / "video99"
    cam = OpenCVCamera(str(missing), 640, 480, reopen_interval_s=0)
    status = cam.status()
    assert status.health is Health.ABSENT
    assert "cannot open camera" in status.reason and str(missing) in status.reason
    with pytest.raises(DeviceDisconnected, match="cannot open camera"):
        cam.read()
    cam.close()


def test_opencv_missing_index_is_absent() -> None:
    cam = open_camera("opencv", "57", 640, 480)
    assert isinstance(cam, OpenCVCamera)
    assert cam.status().health is Health.ABSENT and "video57" in cam.status().reason
    cam.close()


def write_video(path: Path, n_frames: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    cam = SyntheticCamera(*size, pace=False)
    written = [cam.read() for _ in range(n_frames)]
    for frame in written:
        writer.write(frame)
    writer.release()
    return written


def test_opencv_reads_a_video_source_and_recovers_after_it_ends(tmp_path: Path) -> None:
    video = tmp_path / "webcam.avi"
    written = write_video(video, 5)
    cam = OpenCVCamera(str(video), 320, 240, reopen_interval_s=0)
    assert cam.status().health is Health.OK
    for expected in written:
        frame = cam.read()
        assert frame.shape == (240, 320, 3)
        assert np.abs(frame.astype(int) - expected.astype(int)).mean() < 6  # MJPG is lossy
    # End of the stream behaves like an unplugged webcam: a typed error, then absent.
    with pytest.raises(DeviceDisconnected, match="stopped delivering"):
        cam.read()
    assert cam.status().health is Health.ABSENT
    # "Unplugged" for a while: re-open fails and says so.
    hidden = tmp_path / "elsewhere.avi"
    video.rename(hidden)
    with pytest.raises(DeviceDisconnected, match="cannot open camera"):
        cam.read()
    # Replugged: the next read re-opens it.
    hidden.rename(video)
    assert cam.read().shape == (240, 320, 3)
    assert cam.status().health is Health.OK
    cam.close()


def test_opencv_reopen_is_rate_limited(tmp_path: Path) -> None:
    cam = OpenCVCamera(str(tmp_path / "none.avi"), reopen_interval_s=60)
    write_video(tmp_path / "none.avi", 2)
    with pytest.raises(DeviceDisconnected):
        cam.read()  # too soon to try again, even though the file is there now
    cam.close()


def test_picamera2_absent_without_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import raises ImportError
    cam = open_camera("picamera2", "0", 640, 480)
    assert isinstance(cam, Picamera2Camera)
    assert cam.status().health is Health.ABSENT and cam.status().reason == "picamera2 not installed"
    with pytest.raises(DeviceDisconnected, match="picamera2 not installed"):
        cam.read()


class FakePicamera2:
    """Stands in for the CSI module (hardware that cannot exist here), with picamera2's call sequence."""

    instances: list[FakePicamera2] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.config: dict | None = None
        self.started = False
        self.fail_next = False
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main: dict) -> dict:
        return {"main": main}

    def configure(self, config: dict) -> None:
        self.config = config

    def start(self) -> None:
        self.started = True

    def capture_array(self, name: str) -> np.ndarray:
        assert self.started and name == "main"
        if self.fail_next:
            raise RuntimeError("Camera frontend has timed out!")
        w, h = self.config["main"]["size"]
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, :, 0] = 200  # byte 0 = blue in RGB888
        return frame

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        pass


def test_picamera2_configures_rgb888_and_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    cam = Picamera2Camera(320, 240, reopen_interval_s=0)
    picam = FakePicamera2.instances[-1]
    assert picam.config == {"main": {"size": (320, 240), "format": "RGB888"}}
    frame = cam.read()
    assert frame.shape == (240, 320, 3) and frame[0, 0, 0] == 200  # BGR order, no conversion
    picam.fail_next = True
    with pytest.raises(DeviceDisconnected):
        cam.read()
    assert cam.status().health is Health.ABSENT and "timed out" in cam.status().reason
    assert cam.read().shape == (240, 320, 3)  # restarted a fresh Picamera2
    assert cam.status().health is Health.OK
    cam.close()


def test_open_camera_backends() -> None:
    cam = open_camera("synthetic", "dark", 320, 240)
    assert isinstance(cam, SyntheticCamera) and isinstance(cam, Camera) and cam.scene == "dark"
    assert open_camera("synthetic", "0", 320, 240).scene == "portrait"
    with pytest.raises(ValueError, match="unknown camera backend"):
        open_camera("webcam", "0", 640, 480)
