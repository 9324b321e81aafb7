"""Give the windowed Windows executable (`PitBox.exe`) the console it was started from, if any.

A windowed (GUI-subsystem) program has no standard streams: `sys.stdout` and `sys.stderr` are None,
so `PitBox.exe --version`, `--self-test` or `PitBox.exe replay ...` typed in a terminal would print
nothing. `attach_parent_console()` attaches to the parent's console (cmd, PowerShell) and points
the streams at it. Started from Explorer or the Start menu there is no parent console and nothing
changes. Elsewhere (Linux, a console executable, a Python interpreter) it does nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

logger = logging.getLogger(__name__)

ATTACH_PARENT_PROCESS: Final = -1


def attach_parent_console() -> bool:
    """True when the streams now write to the parent's console."""
    if sys.platform != "win32" or (sys.stdout is not None and sys.stderr is not None):
        return False
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    if not kernel32.AttachConsole(ATTACH_PARENT_PROCESS):
        return False  # no parent console (started from Explorer): stay silent
    try:
        stream = open("CONOUT$", "w", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115 (process-long)
    except OSError as exc:
        logger.debug("attached to the parent console but cannot open it: %s", exc)
        return False
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream
    return True
