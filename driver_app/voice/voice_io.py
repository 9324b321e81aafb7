"""The driver app's voice, put together: the speaking sink on the chosen output, the listener on the
chosen microphone. Each half works without the other: no synthesiser or output device means calls
go to the log (`ConsoleSpeechSink`), no microphone means no voice commands, and `problems` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from driver_app.speech import ConsoleSpeechSink, SpeechSink
from driver_app.voice.errors import VoiceError
from driver_app.voice.listener import VoiceListener
from driver_app.voice.recognition import Recognition, default_recognizer

logger = logging.getLogger(__name__)


def _device(name: str) -> int | str | None:
    """A settings value as a PortAudio device: "" the default, digits an index, else a name."""
    name = name.strip()
    if not name:
        return None
    return int(name) if name.isdigit() else name


@dataclass
class VoiceIO:
    sink: SpeechSink
    listener: VoiceListener | None = None
    problems: list[str] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def open(cls, *, output: str = "", microphone: str = "", on_heard: Callable[[Recognition], None]) -> VoiceIO:
        """Speech out on `output` and commands from `microphone` (settings values; "" the defaults)."""
        problems: list[str] = []
        closers: list[Callable[[], None]] = []
        sink: SpeechSink
        try:
            from driver_app.voice.player import SpeechPlayer
            from driver_app.voice.speech_out import VoiceSpeechSink
            from driver_app.voice.tts import Synthesizer

            synthesizer = Synthesizer()
            closers.append(synthesizer.close)
            player = SpeechPlayer(synthesizer.render("Clear").sample_rate)
            player.open_output(_device(output))
            closers.append(player.close)
            sink = VoiceSpeechSink(synthesizer, player)
        except VoiceError as exc:
            problems.append(f"No voice: {exc}. Calls are shown, not spoken.")
            sink = ConsoleSpeechSink()
        listener = None
        try:
            listener = VoiceListener(default_recognizer(), on_heard)
            closers.append(listener.close)
            listener.open_input(_device(microphone))
        except VoiceError as exc:
            problems.append(f"No voice commands: {exc}.")
            listener = None
        for problem in problems:
            logger.warning("%s", problem)
        return cls(sink, listener, problems, closers)

    def push_to_talk(self, pressed: bool) -> None:
        if self.listener is not None:
            self.listener.push_to_talk(pressed)

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()
