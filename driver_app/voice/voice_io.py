"""The driver app's voice, put together: the speaking sink on the chosen output, the listener on the
chosen microphone, and the push-to-talk key or wheel button watched while the sim has the focus.
Each part works without the others: no synthesiser or output device means calls go to the log
(`ConsoleSpeechSink`), no microphone means no voice commands, a talk button that cannot be watched
leaves PitBox's own window key and button; `problems` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from driver_app.speech import ConsoleSpeechSink, SpeechSink
from driver_app.voice.errors import VoiceError
from driver_app.voice.listener import VoiceListener
from driver_app.voice.recognition import Recognition, default_recognizer
from driver_app.voice.sound_device import device_setting
from driver_app.voice.talk_button import TalkButton, watch_talk_button

logger = logging.getLogger(__name__)


@dataclass
class VoiceIO:
    sink: SpeechSink
    listener: VoiceListener | None = None
    talk_button: TalkButton | None = None
    """The watched push-to-talk key or wheel button (None: none set, or it could not be watched)."""
    problems: list[str] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        output: str = "",
        microphone: str = "",
        talk_button: str = "",
        voice: str = "",
        rate_wpm: int | None = None,
        volume_pct: int = 100,
        on_heard: Callable[[Recognition], None],
    ) -> VoiceIO:
        """Speech out on `output`, commands from `microphone` while `talk_button` is held (settings
        values; "" the default devices, and no talk button beyond PitBox's window)."""
        problems: list[str] = []
        closers: list[Callable[[], None]] = []
        sink: SpeechSink
        try:
            from driver_app.voice.player import SpeechPlayer
            from driver_app.voice.speech_out import VoiceSpeechSink
            from driver_app.voice.tts import Synthesizer

            synthesizer = Synthesizer()
            closers.append(synthesizer.close)
            try:
                synthesizer.configure(voice=voice or None, rate_wpm=rate_wpm)
            except VoiceError as exc:
                problems.append(f"Speech settings not used: {exc}.")
            player = SpeechPlayer(synthesizer.render("Clear").sample_rate, volume=max(0.0, min(2.0, volume_pct / 100)))
            player.open_output(device_setting(output))
            closers.append(player.close)
            sink = VoiceSpeechSink(synthesizer, player)
        except VoiceError as exc:
            problems.append(f"No voice: {exc}. Calls are shown, not spoken.")
            sink = ConsoleSpeechSink()
        listener = None
        try:
            listener = VoiceListener(default_recognizer(), on_heard)
            closers.append(listener.close)
            listener.open_input(device_setting(microphone))
        except VoiceError as exc:
            problems.append(f"No voice commands: {exc}.")
            listener = None
        button = None
        if listener is not None and talk_button:
            try:
                button = watch_talk_button(talk_button, listener.push_to_talk)
            except VoiceError as exc:
                problems.append(f"Push-to-talk {talk_button} works only in PitBox's window: {exc}.")
            else:
                if button is not None:
                    closers.insert(0, button.close)
        for problem in problems:
            logger.warning("%s", problem)
        return cls(sink, listener, button, problems, closers)

    def push_to_talk(self, pressed: bool) -> None:
        if self.listener is not None:
            self.listener.push_to_talk(pressed)

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()
