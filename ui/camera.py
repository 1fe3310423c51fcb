"""The live camera preview as MJPEG (``multipart/x-mixed-replace``): a plain ``<img>`` shows it, no JS needed.

Frames come from the photo capture worker (which also checks them); this view only frames the JPEGs.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response

from ui import kiosk
from ui.helpers import login_required

bp = Blueprint("camera", __name__)
BOUNDARY = "jemputframe"


@bp.get("/camera/<draft_id>.mjpg")
@login_required
def stream(draft_id: str) -> Response:
    ctx = kiosk()
    worker = ctx.capture.photo(draft_id)

    def frames() -> Iterator[bytes]:
        for jpeg in worker.preview_frames(ctx.stopping):
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg + b"\r\n"
            )

    return Response(frames(), mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                    headers={"Cache-Control": "no-store"})
