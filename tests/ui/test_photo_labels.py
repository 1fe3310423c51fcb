"""Every photo check the quality module reports has a label on the photo screen (else the list shows a raw name)."""

from __future__ import annotations

import re
from pathlib import Path

from device_drivers.camera import SyntheticCamera
from station.quality.photo import PhotoChecker

TEMPLATE = Path(__file__).parents[2] / "ui" / "templates" / "enroll" / "photo.html"


def test_every_photo_check_has_a_label():
    labels = set(re.findall(r'"(\w+)": _\(', TEMPLATE.read_text(encoding="utf-8")))
    camera = SyntheticCamera(scene="portrait", pace=False)
    try:
        names = {check.name for check in PhotoChecker().check(camera.read()).checks}
    finally:
        camera.close()
    assert len(names) >= 7
    assert names <= labels, f"no label for {sorted(names - labels)}"
