"""Run as a script: build the main window with sample data and save `window.grab()` as a PNG.

Used by the screenshot test in a subprocess with QT_QPA_PLATFORM=xcb under Xvfb (a real X
server renders fonts and styles as a desktop does). Usage: screenshot_main_window.py OUT.png
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from sample_data import sample_events  # noqa: E402

from driver_app.qt.main_window import MainWindow  # noqa: E402
from driver_app.qt.tray import TrayController  # noqa: E402
from driver_app.qt.worker import Notice  # noqa: E402


def main(out: Path) -> int:
    app = QApplication([sys.argv[0]])
    window = MainWindow()
    tray = TrayController(use_tray=False)
    window.add_control_actions([tray.action_mute, tray.action_voice, tray.action_video, tray.action_settings])
    for event in sample_events():
        window.apply(event)
    window.apply(Notice("Streaming to relay ws://127.0.0.1:8765 as Alex Demo, car 1"))
    window.show()
    saved: list[bool] = []

    def grab() -> None:
        saved.append(window.grab().save(str(out), "PNG"))
        app.quit()

    QTimer.singleShot(500, grab)  # let the window map and lay out
    app.exec()
    return 0 if saved and saved[0] else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
