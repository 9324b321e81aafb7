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

from driver_app.voice.audio import UtteranceCapture
from driver_app.voice.errors import AudioDeviceError
from driver_app.voice.recognition import CommandRecognizer, Recognition

logger = logging.getLogger(__name__)

INPUT_RATE: Final = 16_000
INPUT_BLOCK: Final = 320
"""20 ms blocks from the microphone."""


class VoiceListener:
    """See the module docstring. `feed` and `push_to_talk` are thread-safe."""

    def __init__(
        self,
        recognizer: CommandRecognizer,
        on_heard: Callable[[Recognition], None],
        *,
        sample_rate: int = INPUT_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recognizer = recognizer
        self.on_heard = on_heard
        self.clock = clock
        self.capture = UtteranceCapture(sample_rate)
        self.heard = 0
        self._lock = threading.Lock()
        self._utterances: queue.Queue[npt.NDArray[np.int16] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._recognise, name="pitbox-voice-in", daemon=True)
        self._thread.start()
        self._stream: Any = None

    def push_to_talk(self, pressed: bool, now_s: float | None = None) -> None:
        """The talk key went down or up (`now_s`: when, on the listener's clock; default now)."""
        with self._lock:
            self.capture.push_to_talk(pressed, self.clock() if now_s is None else now_s)

    def feed(self, chunk: npt.ArrayLike) -> None:
        """One block of microphone audio (the input callback calls this)."""
        with self._lock:
            utterance = self.capture.feed(chunk)
        if utterance is not None and len(utterance):
            self._utterances.put(utterance)

    def _recognise(self) -> None:
        while (utterance := self._utterances.get()) is not None:
            recognition = self.recognizer.recognize(utterance)
            self.heard += 1
            logger.info("heard %r -> %s", recognition.text, recognition.command)
            self.on_heard(recognition)

    def open_input(self, device: int | str | None = None) -> None:
        """Listen on `device` (None: the system default microphone) at 16 kHz mono."""
        try:
            import sounddevice
        except (OSError, ImportError) as exc:  # no PortAudio library
            raise AudioDeviceError(f"no sound library: {exc} (on Linux: apt install libportaudio2)") from exc
        try:

            def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
                self.feed(indata[:, 0])

            stream = sounddevice.InputStream(
                samplerate=self.capture.sample_rate,
                channels=1,
                dtype="float32",
                blocksize=INPUT_BLOCK,
                device=device,
                callback=callback,
            )
            stream.start()
        except (sounddevice.PortAudioError, OSError, ValueError) as exc:
            raise AudioDeviceError(f"cannot open the microphone {device!r}: {exc}") from exc
        self._stream = stream

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        self._utterances.put(None)
        self._thread.join(timeout=5)
