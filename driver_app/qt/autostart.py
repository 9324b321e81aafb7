"""Start PitBox with Windows: a value under the per-user Run key (no admin rights needed).

`set_enabled(True)` writes `HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\PitBox` with the
command that starts the tray app; `set_enabled(False)` removes it. Elsewhere nothing is written:
both return False and `UNSUPPORTED_REASON` says why (the settings dialog shows it).
"""

from __future__ import annotations

import logging
import sys
from typing import Final

from PySide6.QtCore import QSettings

logger = logging.getLogger(__name__)

RUN_KEY: Final = "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
VALUE_NAME: Final = "PitBox"
UNSUPPORTED_REASON: Final = "Starting with Windows is available on Windows only."


def is_supported() -> bool:
    return sys.platform == "win32"


def command() -> str:
    """What Windows runs at log-on: the packaged executable, or this Python with `-m driver_app.cli`,
    with `--minimized` (the app starts in the tray)."""
    if getattr(sys, "frozen", False):
        return f'"{sys.executable}" --minimized'
    python = sys.executable
    if python.lower().endswith("python.exe"):
        python = python[: -len("python.exe")] + "pythonw.exe"  # no console window at log-on
    return f'"{python}" -m driver_app.cli --minimized'


def _run_key() -> QSettings:
    return QSettings(RUN_KEY, QSettings.Format.NativeFormat)


def is_enabled() -> bool:
    if not is_supported():
        return False
    return _run_key().contains(VALUE_NAME)


def set_enabled(enabled: bool, start_command: str | None = None) -> bool:
    """Make PitBox start (or not) at log-on. True when the Run key now says what was asked."""
    if not is_supported():
        if enabled:
            logger.info("start with Windows ignored: %s", UNSUPPORTED_REASON)
        return False
    settings = _run_key()
    if enabled:
        settings.setValue(VALUE_NAME, start_command if start_command is not None else command())
    else:
        settings.remove(VALUE_NAME)
    settings.sync()
    if settings.status() is not QSettings.Status.NoError:
        logger.warning("could not update the Run key (%s)", settings.status().name)
        return False
    return settings.contains(VALUE_NAME) == enabled
