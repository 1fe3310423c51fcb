"""Draw a printed slip as the paper would look: 384 dots wide, Font A text, the QR the printer would draw.

Used by the emulator's viewers (``/sim`` under ``--simulate``) and by tests that scan the QR back with OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

from .protocol import HEAD_DOTS, Align, Feed, Item, Line, QrCode, QrErrorCorrection, Raster

_LINE_DOTS = 30  # 24-dot Font A plus line spacing
_EC = {QrErrorCorrection.L: 1, QrErrorCorrection.M: 0, QrErrorCorrection.Q: 3, QrErrorCorrection.H: 2}


def qr_modules(payload: str, ec: QrErrorCorrection = QrErrorCorrection.M) -> np.ndarray:
    """The QR symbol's modules (True = dark) as the printer computes them from the stored data, with quiet zone."""
    import qrcode

    qr = qrcode.QRCode(error_correction=_EC[ec], border=4)
    qr.add_data(payload.encode("ascii"), optimize=0)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def _text_block(line: Line) -> np.ndarray:
    w, h = line.size
    height = _LINE_DOTS * h
    block = np.full((height, HEAD_DOTS), 255, np.uint8)
    scale = 0.62 * h
    thickness = 2 if line.bold else 1
    (tw, _), _ = cv2.getTextSize(line.text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    tw = int(tw * w / h)
    x = {Align.LEFT: 4, Align.CENTER: (HEAD_DOTS - tw) // 2, Align.RIGHT: HEAD_DOTS - tw - 4}[line.align]
    canvas = np.full((height, max(HEAD_DOTS, tw + 8) * h // max(1, w) + 8), 255, np.uint8)
    cv2.putText(canvas, line.text, (4, height - 8 * h), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thickness, cv2.LINE_AA)
    if w != h:
        canvas = cv2.resize(canvas, (canvas.shape[1] * w // h, height), interpolation=cv2.INTER_AREA)
    part = canvas[:, 4:4 + min(tw, HEAD_DOTS)]
    x = max(0, min(x, HEAD_DOTS - part.shape[1]))
    block[:, x:x + part.shape[1]] = part
    return block


def _centered(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    w = min(w, HEAD_DOTS)
    block = np.full((h, HEAD_DOTS), 255, np.uint8)
    x = (HEAD_DOTS - w) // 2
    block[:, x:x + w] = image[:, :w]
    return block


def render_slip(items: list[Item]) -> np.ndarray:
    """A greyscale image (uint8, white paper) of the items, top to bottom."""
    blocks: list[np.ndarray] = [np.full((12, HEAD_DOTS), 255, np.uint8)]
    for item in items:
        if isinstance(item, Line):
            blocks.append(_text_block(item))
        elif isinstance(item, Feed):
            blocks.append(np.full((_LINE_DOTS * item.lines, HEAD_DOTS), 255, np.uint8))
        elif isinstance(item, QrCode):
            modules = qr_modules(item.payload, item.ec)
            dots = np.kron(modules, np.ones((item.module_dots, item.module_dots), dtype=bool))
            blocks.append(_centered(np.where(dots, 0, 255).astype(np.uint8)))
        elif isinstance(item, Raster):
            blocks.append(_centered(np.where(item.bits, 0, 255).astype(np.uint8)))
    blocks.append(np.full((24, HEAD_DOTS), 255, np.uint8))
    return np.vstack(blocks)


def render_slip_png(items: list[Item]) -> bytes:
    ok, buf = cv2.imencode(".png", render_slip(items))
    if not ok:
        raise ValueError("could not encode the slip image")
    return buf.tobytes()
