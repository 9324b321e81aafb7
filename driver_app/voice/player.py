"""PitBox's own speech player: a priority queue of rendered phrases played on the chosen output device.

The sound card pulls samples through `fill(out)` (sounddevice's callback, on its own thread). Rules:

- an urgent phrase (spotter, critical, or one that says it interrupts) cuts a regular phrase that
  is playing at its next word start, if that comes within `max_cut_delay_s`; a word longer than
  that is cut at its quietest 5 ms inside the window (a pause between syllables), faded over
  `FADE_S`, never at full level. Urgent phrases wait for each other;
- a phrase whose time has passed (`expires_s` on the player's clock) is dropped before it starts;
- the queue never holds more than `max_queue_s` of regular speech: a phrase that does not fit is
  refused (the copilot's arbiter has already chosen what matters);
- volume and mute apply at once.

`tap=True` keeps a copy of every block written, with the clock time it was written (for tests and
the benchmark: what the sound card was given). Without a sound card, `sounddevice` can still play to
ALSA's null device; `open_output` raises `AudioDeviceError` when no device can be opened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from driver_app.voice.sound_device import open_mono_stream
from driver_app.voice.tts import Speech

logger = logging.getLogger(__name__)

MAX_CUT_DELAY_S: Final = 0.15
FADE_S: Final = 0.005
BLOCK_FRAMES: Final = 256
"""Frames per callback (11.6 ms at 22,050 Hz): an urgent phrase is heard one block after it is queued."""


@dataclass(slots=True)
class _Item:
    speech: Speech
    urgent: bool
    expires_s: float | None
    key: str
    queued_s: float
    position: int = 0
    cut_at: int | None = None
    fade: npt.NDArray[np.float32] | None = None


@dataclass(slots=True)
class PlayerStats:
    stale: int = 0
    refused: int = 0
    events: list[tuple[float, str, str, int]] = field(default_factory=list)
    """(clock time, what, key, stream frame): "start", "end", "cut", "stale", "refused" (bounded).
    The stream frame is the sample of the output stream where it happened (frames written so far)."""


class SpeechPlayer:
    """See the module docstring. Thread-safe: `play` from any thread, `fill` from the audio thread."""

    def __init__(
        self,
        sample_rate: int,
        *,
        volume: float = 1.0,
        max_queue_s: float = 8.0,
        max_cut_delay_s: float = MAX_CUT_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
        tap: bool = False,
    ) -> None:
        self.sample_rate = sample_rate
        self.volume = volume
        self.muted = False
        self.max_queue_s = max_queue_s
        self.max_cut_delay_s = max_cut_delay_s
        self.clock = clock
        self.stats = PlayerStats()
        self.tap: list[tuple[int, npt.NDArray[np.float32], str]] | None = [] if tap else None
        """(stream frame of the block's first sample, the block, keys of the phrases in it)."""
        self._lock = threading.Lock()
        self._queue: deque[_Item] = deque()
        self._current: _Item | None = None
        self._stream: Any = None
        self.frames_out = 0
        """Samples handed to the sound card so far."""
        self._block_offset = 0

    # ---------------------------------------------------------------- control

    def play(self, speech: Speech, *, urgent: bool = False, expires_s: float | None = None, key: str = "") -> bool:
        """Queue a phrase (urgent: before every regular one, cutting a regular one that plays)."""
        if speech.sample_rate != self.sample_rate:
            raise ValueError(f"speech at {speech.sample_rate} Hz, the player runs at {self.sample_rate} Hz")
        now = self.clock()
        item = _Item(speech, urgent, expires_s, key or speech.text, now)
        with self._lock:
            if self.muted:
                return False
            if not urgent and self._queued_regular_s() + speech.duration_s > self.max_queue_s:
                self.stats.refused += 1
                self._event(now, "refused", item.key, 0)
                return False
            if urgent:
                # After the urgent ones already waiting, before every regular one.
                index = sum(1 for queued in self._queue if queued.urgent)
                self._queue.insert(index, item)
                current = self._current
                if current is not None and not current.urgent and current.cut_at is None:
                    self._plan_cut(current)
            else:
                self._queue.append(item)
        return True

    def set_muted(self, muted: bool) -> None:
        with self._lock:
            self.muted = muted
            if muted:
                self._queue.clear()
                self._current = None

    def clear(self) -> None:
        """Forget everything waiting (the current phrase finishes its word)."""
        with self._lock:
            self._queue.clear()
            if self._current is not None and self._current.cut_at is None:
                self._plan_cut(self._current)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._queue)

    # ---------------------------------------------------------------- the audio thread

    def fill(self, out: npt.NDArray[np.float32]) -> None:
        """Write the next `len(out)` samples (silence when nothing plays). Called by the sound card."""
        now = self.clock()
        written = 0
        keys: list[str] = []
        with self._lock:
            while written < len(out):
                self._block_offset = written
                item = self._current or self._next(now)
                if item is None:
                    break
                keys.append(item.key)
                stop = len(item.speech.pcm) if item.cut_at is None else item.cut_at
                count = min(len(out) - written, stop - item.position)
                chunk = item.speech.pcm[item.position : item.position + count]
                out[written : written + count] = chunk
                if item.fade is not None and item.cut_at is not None:
                    # The last FADE_S before a cut inside a word: ramp down, no click.
                    fade_start = item.cut_at - len(item.fade)
                    lo, hi = max(item.position, fade_start), item.position + count
                    if hi > lo:
                        out[written + lo - item.position : written + hi - item.position] *= item.fade[
                            lo - fade_start : hi - fade_start
                        ]
                item.position += count
                written += count
                if item.position >= stop:
                    finished = "cut" if item.cut_at is not None and item.cut_at < len(item.speech.pcm) else "end"
                    self._event(now, finished, item.key, written)
                    self._current = None
            out[written:] = 0.0
            start_frame = self.frames_out
            self.frames_out += len(out)
            if self.muted:
                out[:] = 0.0
            elif self.volume != 1.0:
                out *= self.volume
        if self.tap is not None:
            self.tap.append((start_frame, out.copy(), ",".join(dict.fromkeys(keys))))

    def _next(self, now: float) -> _Item | None:
        while self._queue:
            item = self._queue.popleft()
            if item.expires_s is not None and now > item.expires_s:
                self.stats.stale += 1
                self._event(now, "stale", item.key, self._block_offset)
                continue
            self._current = item
            self._event(now, "start", item.key, self._block_offset)
            return item
        return None

    def _plan_cut(self, item: _Item) -> None:
        """Stop `item` at its next word start within the window, else at its quietest point in it."""
        limit = item.position + int(self.max_cut_delay_s * self.sample_rate)
        words = item.speech.word_starts
        ahead = words[(words >= item.position) & (words <= limit)]
        if len(ahead):
            item.cut_at = int(ahead[0])
            return
        pcm = item.speech.pcm
        window = max(1, self.sample_rate // 200)
        start, stop = item.position, min(limit, len(pcm))
        if stop - start < 2 * window:
            item.cut_at = stop
            return
        n = (stop - start) // window
        energy = np.mean(pcm[start : start + n * window].reshape(n, window) ** 2, axis=1)
        item.cut_at = start + (int(np.argmin(energy)) + 1) * window
        fade = max(1, int(FADE_S * self.sample_rate))
        item.fade = np.linspace(1.0, 0.0, fade, dtype=np.float32)

    def _queued_regular_s(self) -> float:
        queued = sum(len(i.speech.pcm) - i.position for i in self._queue if not i.urgent)
        current = self._current
        if current is not None and not current.urgent:
            queued += len(current.speech.pcm) - current.position
        return queued / self.sample_rate

    def _event(self, now: float, what: str, key: str, offset: int) -> None:
        """Record an event at `offset` samples into the block being written (0 outside `fill`)."""
        events = self.stats.events
        events.append((now, what, key, self.frames_out + offset))
        if len(events) > 1000:
            del events[:500]

    # ---------------------------------------------------------------- the sound card

    def open_output(self, device: int | str | None = None) -> None:
        """Start playing on `device` (None: the system default) through PortAudio."""
        self._stream = open_mono_stream(
            "output",
            device,
            sample_rate=self.sample_rate,
            block_frames=BLOCK_FRAMES,
            on_block=self.fill,
            what="the sound output",
        )

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
