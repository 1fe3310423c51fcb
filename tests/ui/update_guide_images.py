"""Copy the screenshots the browser tests saved (tests/artifacts/ui/) into docs/img/ for the operator guide.

Only the pictures docs/operator-guide.md links to are copied, so the guide decides what is committed:

    .venv/bin/python -m pytest tests/ui && .venv/bin/python tests/ui/update_guide_images.py
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operator-guide.md"
SHOTS = ROOT / "tests" / "artifacts" / "ui"
IMG = ROOT / "docs" / "img"


def main() -> int:
    names = sorted(set(re.findall(r"\(img/([\w-]+\.png)\)", GUIDE.read_text(encoding="utf-8"))))
    missing = [n for n in names if not (SHOTS / n).exists()]
    if missing:
        print(f"run the browser tests first (pytest tests/ui); missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    IMG.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SHOTS / name, IMG / name)
    print(f"copied {len(names)} screenshots to {IMG.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
