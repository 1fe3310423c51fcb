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


def test_every_photo_hint_has_a_picture():
    from station.quality.photo import HINTS

    pictures = Path(__file__).parents[2] / "ui" / "templates" / "enroll" / "_hint_pictures.html"
    drawn = set(re.findall(r'key == "(\w+)"', pictures.read_text(encoding="utf-8")))
    listed = set(re.findall(r'"(\w+)"', TEMPLATE.read_text(encoding="utf-8").split('id="hint-pics"')[1]
                            .split("</template>")[0]))
    assert set(HINTS) <= drawn, f"no picture for {sorted(set(HINTS) - drawn)}"
    assert set(HINTS) <= listed, f"photo.html does not offer {sorted(set(HINTS) - listed)}"
