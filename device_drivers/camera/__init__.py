"""Cameras: USB webcams (OpenCV), the Pi CSI module (picamera2) and a synthetic camera, behind one interface."""

from __future__ import annotations

from device_drivers.camera.base import Camera
from device_drivers.camera.opencv import OpenCVCamera
from device_drivers.camera.picamera import Picamera2Camera
from device_drivers.camera.synthetic import SCENES, SyntheticCamera

BACKENDS = ("opencv", "picamera2", "synthetic")

__all__ = ["BACKENDS", "SCENES", "Camera", "OpenCVCamera", "Picamera2Camera", "SyntheticCamera", "open_camera"]


def open_camera(backend: str, source: str = "0", width: int = 640, height: int = 480) -> Camera:
    """The camera the config names (``[devices.camera]``). Never raises for a missing camera: check ``status()``.

    For ``synthetic``, ``source`` may name a scene (``portrait``, ``dark``...); anything else means ``portrait``.
    """
    if backend == "opencv":
        return OpenCVCamera(source, width, height)
    if backend == "picamera2":
        return Picamera2Camera(width, height)
    if backend == "synthetic":
        return SyntheticCamera(width, height, scene=source if source in SCENES else "portrait")
    raise ValueError(f"unknown camera backend {backend!r}; choose from {', '.join(BACKENDS)}")
