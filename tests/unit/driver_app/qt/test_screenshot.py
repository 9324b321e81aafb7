"""A screenshot of the main window with sample data, rendered by a real X server (Xvfb, xcb).

Kept in the artifacts directory for a person to look at. Runs where `xvfb-run` exists and a
DISPLAY is set (`make test` runs the suite under `xvfb-run -a`); skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

SCRIPT = Path(__file__).with_name("screenshot_main_window.py")
REPO = Path(__file__).resolve().parents[4]
SCREENSHOT_NAME = "tray_app_main_window.png"


def test_main_window_screenshot_under_xvfb(artifacts_dir: Path) -> None:
    if shutil.which("xvfb-run") is None or not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display: run the tests under `xvfb-run -a` (make test does)")
    out = artifacts_dir / SCREENSHOT_NAME
    out.unlink(missing_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert not image.isNull()
    assert image.width() >= 1000 and image.height() >= 700
    # The dark status header is drawn near the top (below the toolbar), and the amber handoff prompt below it.
    column = [image.pixelColor(image.width() // 2, y).name() for y in range(min(300, image.height()))]
    assert "#1f2733" in column
    assert "#fff4df" in column[column.index("#1f2733") :]
