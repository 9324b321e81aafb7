"""The speech sink that speaks: copilot calls rendered by `Synthesizer` and played by `SpeechPlayer`.

`say(call)` never blocks the pipeline: a cached phrase goes to the player at once; an uncached one
is rendered on the synthesiser's thread and queued when ready (if it is not stale by then). Urgent
calls (spotter, critical) and calls that interrupt another cut what is playing at a word start.
A call's staleness is its message deadline, counted from when it was started (session seconds are
taken as seconds: a live sim runs in real time). Frequent phrases are rendered at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Final

from coaching.applications.spotter import CALLS
from coaching.messages import Call
from driver_app.voice.errors import SpeechError
from driver_app.voice.player import SpeechPlayer
from driver_app.voice.tts import Speech, Synthesizer

logger = logging.getLogger(__name__)

SPOTTER_PHRASES: Final = (*CALLS.values(), "Still there", "Clear left", "Clear right", "Clear all round")
"""What the spotter says (its overlap calls, and the repeat and clear calls it makes inline)."""
NUMBERS: Final = tuple(str(n) for n in range(0, 101))
MAX_STALE_S: Final = 30.0


class VoiceSpeechSink:
    """A `SpeechSink` with a voice (see the module docstring)."""

    def __init__(
        self,
        synthesizer: Synthesizer,
        player: SpeechPlayer,
        *,
        warm: Iterable[str] = (*SPOTTER_PHRASES, *NUMBERS),
    ) -> None:
        self.synthesizer = synthesizer
        self.player = player
        self.muted = False
        # Rendered in the background (about 20 ms each): the pipeline starts at once.
        self._warming = [synthesizer.submit(text) for text in warm]

    def wait_until_warm(self, timeout_s: float = 30.0) -> None:
        """Block until the frequent phrases are in the cache (tests and benchmarks)."""
        for future in self._warming:
            future.result(timeout=timeout_s)

    def say(self, call: Call) -> None:
        if self.muted:
            return
        message = call.message
        urgent = message.priority.urgent or call.interrupts is not None
        stale_after = min(max(message.deadline_s - call.start_s, 0.0), MAX_STALE_S)
        self.speak(message.text, urgent=urgent, stale_after_s=stale_after, key=message.dedupe_key)

    def speak(self, text: str, *, urgent: bool = False, stale_after_s: float = 10.0, key: str = "") -> None:
        """Speak any text (voice-command answers too) with the same rules as a call."""
        if self.muted:
            return
        expires = self.player.clock() + stale_after_s
        future = self.synthesizer.submit(text)
        if future.done():
            self._queue(future, urgent, expires, key)
        else:
            future.add_done_callback(lambda done: self._queue(done, urgent, expires, key))

    def _queue(self, future: Future[Speech], urgent: bool, expires_s: float, key: str) -> None:
        try:
            speech = future.result()
        except SpeechError as exc:
            logger.warning("not spoken: %s", exc)
            return
        self.player.play(speech, urgent=urgent, expires_s=expires_s, key=key)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self.player.set_muted(muted)
