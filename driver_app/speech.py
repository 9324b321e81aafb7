"""Where the copilot's calls go to be heard: the speech-sink interface and the console sink.

The voice issue implements a sink that synthesises and plays calls (interrupting at word
boundaries); until then, and for headless runs, `ConsoleSpeechSink` writes each call as a line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from coaching.messages import Call

logger = logging.getLogger(__name__)


class SpeechSink(Protocol):
    """Receives every call the copilot starts, in order."""

    def say(self, call: Call) -> None:
        """Start speaking `call`; if it interrupts another (`call.interrupts`), stop that one first."""
        ...

    def set_muted(self, muted: bool) -> None:
        """Muted: calls are dropped (the spotter too: the driver asked for silence)."""
        ...


class ConsoleSpeechSink:
    """Writes each call as one line through `write` (default: the log at INFO)."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write if write is not None else logger.info
        self.muted = False
        self.spoken = 0

    def say(self, call: Call) -> None:
        if self.muted:
            return
        self.spoken += 1
        self._write(call.line())

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
