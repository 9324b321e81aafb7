"""Sound output for speech tests: a sound card clocked in real time, and ALSA's null device.

This machine has no sound card. PortAudio on ALSA's null device runs the player's real output
stream but is not clocked (it pulls samples as fast as the CPU allows), so timing is measured with
`ClockedSoundCard`: a thread that calls the player's `fill` with one block per block duration, as
a sound card's callback does (the same interface sounddevice calls). `null_device_home(folder)`
prepares a HOME whose `.asoundrc` makes ALSA's default device the null device, for a child process
that opens the real stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from driver_app.voice.player import BLOCK_FRAMES

ASOUNDRC: Final = "pcm.!default { type null }\nctl.!default { type hw card 0 }\n"


def null_device_home(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".asoundrc").write_text(ASOUNDRC, encoding="utf-8")
    return folder


class ClockedSoundCard:
    """Calls `fill(block)` every `block_frames / sample_rate` seconds of the clock, like a sound card."""

    def __init__(
        self, fill: Callable[[npt.NDArray[np.float32]], None], sample_rate: int, block_frames: int = BLOCK_FRAMES
    ) -> None:
        self.fill = fill
        self.sample_rate = sample_rate
        self.block_frames = block_frames
        self.started_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clocked-sound-card", daemon=True)

    def _run(self) -> None:
        period = self.block_frames / self.sample_rate
        self.started_s = time.monotonic()
        blocks = 0
        while not self._stop.is_set():
            self.fill(np.zeros(self.block_frames, dtype=np.float32))
            blocks += 1
            delay = self.started_s + blocks * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def __enter__(self) -> ClockedSoundCard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
