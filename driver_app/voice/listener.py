"""Voice commands from the microphone: push-to-talk capture, recognition on its own thread, results out.

The sound card's input callback feeds `UtteranceCapture` (which keeps a little audio from before
the key press and a tail after the release, so neither the first nor the last word is lost). A
finished utterance goes to the recogniser on the listener's thread, never on the audio thread or
the pipeline's loop; `on_heard(recognition)` is called there, and the caller hands it to the
pipeline (`Pipeline.handle_command`) on the pipeline's own loop. `push_to_talk` is what a keyboard
key, a wheel button or the tray's "Talk" action calls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from driver_app.voice.audio import RECOGNIZER_RATE, UtteranceCapture
from driver_app.voice.recognition import CommandRecognizer, Recognition
from driver_app.voice.sound_device import open_mono_stream

logger = logging.getLogger(__name__)

INPUT_BLOCK: Final = 320
"""20 ms blocks from the microphone."""


class VoiceListener:
    """See the module docstring. `feed` and `push_to_talk` are thread-safe."""

    def __init__(
        self,
        recognizer: CommandRecognizer,
        on_heard: Callable[[Recognition], None],
    ) -> None:
        self.recognizer = recognizer
        self.on_heard = on_heard
        self.capture = UtteranceCapture(RECOGNIZER_RATE)
        self._lock = threading.Lock()
        self._utterances: queue.Queue[npt.NDArray[np.int16] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._recognise, name="pitbox-voice-in", daemon=True)
        self._thread.start()
        self._stream: Any = None

    def push_to_talk(self, pressed: bool, now_s: float | None = None) -> None:
        """The talk key went down or up (`now_s`: when, on `time.monotonic`'s clock; default now)."""
        with self._lock:
            self.capture.push_to_talk(pressed, time.monotonic() if now_s is None else now_s)

    def feed(self, chunk: npt.ArrayLike) -> None:
        """One block of microphone audio (the input callback calls this)."""
        with self._lock:
            utterance = self.capture.feed(chunk)
        if utterance is not None and len(utterance):
            self._utterances.put(utterance)

    def _recognise(self) -> None:
        while (utterance := self._utterances.get()) is not None:
            recognition = self.recognizer.recognize(utterance)
            logger.info("heard %r -> %s", recognition.text, recognition.command)
            self.on_heard(recognition)

    def open_input(self, device: int | str | None = None) -> None:
        """Listen on `device` (None: the system default microphone) at 16 kHz mono."""
        self._stream = open_mono_stream(
            "input",
            device,
            sample_rate=self.capture.sample_rate,
            block_frames=INPUT_BLOCK,
            on_block=self.feed,
            what="the microphone",
        )

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        self._utterances.put(None)
        self._thread.join(timeout=5)
