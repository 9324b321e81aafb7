"""Text to speech as PCM buffers: pyttsx3 (SAPI5 on Windows, espeak-ng on Linux), rendered once, cached.

`Synthesizer.render(text)` returns a `Speech`: mono float32 samples plus the sample index where each
word starts, so the player can stop a message between two words. On espeak-ng the word starts come
from the synthesiser's own word events (their audio positions); with other drivers (SAPI5) from
the pauses in the audio. pyttsx3 is not thread-safe: one worker thread owns the engine and renders
requests in order; frequent phrases (spotter calls, numbers, corner names) stay in an LRU cache, so
the second time they cost a dictionary lookup.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import queue
import tempfile
import threading
import wave
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from driver_app.voice.audio import to_float32
from driver_app.voice.errors import SpeechError

logger = logging.getLogger(__name__)

DEFAULT_RATE_WPM: Final = 190
ESPEAK_RATE_HZ: Final = 22050
"""espeak-ng's output rate (pyttsx3 initialises it for retrieval at its native rate)."""
CACHE_PHRASES: Final = 512
PAUSE_DB: Final = -30.0
"""A 5 ms window this far below the phrase's loudest is a pause (a boundary where no word events exist)."""


@dataclass(frozen=True, slots=True)
class Speech:
    """One rendered phrase: mono float32 samples in -1..1 and where its words start (sample indices)."""

    text: str
    pcm: npt.NDArray[np.float32]
    sample_rate: int
    word_starts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate


def pause_starts(
    pcm: npt.NDArray[np.float32], sample_rate: int, threshold_db: float = PAUSE_DB
) -> npt.NDArray[np.int64]:
    """Sample indices of the pauses in `pcm` (the middle of each run of quiet 5 ms windows)."""
    window = max(1, sample_rate // 200)
    n = len(pcm) // window
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    rms = np.sqrt(np.mean(pcm[: n * window].reshape(n, window).astype(np.float64) ** 2, axis=1))
    quiet = rms <= rms.max() * 10 ** (threshold_db / 20)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    starts, stops = edges[::2], edges[1::2]
    middles = ((starts + stops) // 2) * window
    return np.unique(np.concatenate(([0], middles))).astype(np.int64)


class _EspeakCapture:
    """Renders through espeak-ng directly (the library pyttsx3 loaded and initialised), collecting the
    samples and every word's audio position in the synthesis callback.

    pyttsx3's own espeak file path runs espeak asynchronously and writes the file from inside the
    callback: after a long phrase the next file came out empty, or not at all. Here `Synth` is
    followed by `Synchronize`, which returns once every sample has been delivered.
    """

    def __init__(self, engine: Any) -> None:
        self.available = False
        driver = getattr(getattr(engine, "proxy", None), "_driver", None)
        if driver is None or not type(driver).__module__.endswith("drivers.espeak"):
            return
        from pyttsx3.drivers import _espeak

        self._espeak = _espeak
        self._chunks: list[bytes] = []
        self._words_ms: list[int] = []
        self.available = True

    def render(self, text: str, sample_rate: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        espeak = self._espeak
        self._chunks.clear()
        self._words_ms.clear()

        def on_synth(wav: Any, numsamples: int, events: Any) -> int:
            i = 0
            while events[i].type != espeak.EVENT_LIST_TERMINATED:
                if events[i].type == espeak.EVENT_WORD:
                    self._words_ms.append(int(events[i].audio_position))
                i += 1
            if numsamples > 0:
                self._chunks.append(ctypes.string_at(wav, numsamples * 2))
            return 0

        espeak.SetSynthCallback(on_synth)
        espeak.Synth(text.encode("utf-8"), flags=espeak.ENDPAUSE | espeak.CHARS_UTF8)
        espeak.Synchronize()
        pcm = to_float32(np.frombuffer(b"".join(self._chunks), dtype="<i2"))
        starts = np.asarray(self._words_ms, dtype=np.int64) * sample_rate // 1000
        words = np.unique(np.clip(np.concatenate(([0], starts)), 0, len(pcm))).astype(np.int64)
        return pcm, words


class Synthesizer:
    """Renders text to `Speech` on its own thread (see the module docstring). `close()` stops it."""

    def __init__(
        self, *, voice: str | None = None, rate_wpm: int = DEFAULT_RATE_WPM, cache_phrases: int = CACHE_PHRASES
    ) -> None:
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.cache_phrases = cache_phrases
        self._cache: OrderedDict[tuple[str, str | None, int], Speech] = OrderedDict()
        self._lock = threading.Lock()
        self._requests: queue.Queue[tuple[str, Future[Speech]] | None] = queue.Queue()
        self._ready: Future[list[str]] = Future()
        self._thread = threading.Thread(target=self._run, name="pitbox-tts", daemon=True)
        self._thread.start()
        self.voices = self._ready.result(timeout=30)

    # ---------------------------------------------------------------- API

    def render(self, text: str, *, timeout_s: float = 10.0) -> Speech:
        """The speech for `text` (from the cache when rendered before). Raises SpeechError."""
        return self.submit(text).result(timeout=timeout_s)

    def submit(self, text: str) -> Future[Speech]:
        """Render `text` in the background; the future holds the speech (at once when cached)."""
        key = (text, self.voice, self.rate_wpm)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                done: Future[Speech] = Future()
                done.set_result(cached)
                return done
        future: Future[Speech] = Future()
        self._requests.put((text, future))
        return future

    def cached(self, text: str) -> bool:
        with self._lock:
            return (text, self.voice, self.rate_wpm) in self._cache

    def configure(self, *, voice: str | None = None, rate_wpm: int | None = None) -> None:
        """A new voice or rate: later renders use it (cached phrases of the old one stay until evicted)."""
        if voice is not None:
            if self.voices and voice not in self.voices:
                raise SpeechError(f"no voice {voice!r}; installed: {', '.join(self.voices[:10])}...")
            self.voice = voice
        if rate_wpm is not None:
            if not 80 <= rate_wpm <= 400:
                raise SpeechError(f"speech rate {rate_wpm} words per minute is outside 80..400")
            self.rate_wpm = rate_wpm

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=5)

    # ---------------------------------------------------------------- the engine's thread

    def _run(self) -> None:
        try:
            import pyttsx3

            engine = pyttsx3.init()
            voices = [str(v.id) for v in engine.getProperty("voices")]
        except (ImportError, RuntimeError, OSError) as exc:
            self._ready.set_exception(SpeechError(f"no speech synthesiser: {exc} (on Linux: apt install espeak-ng)"))
            return
        capture = _EspeakCapture(engine)
        self._ready.set_result(voices)
        with tempfile.TemporaryDirectory(prefix="pitbox-tts-") as folder:
            path = Path(folder) / "phrase.wav"
            while (request := self._requests.get()) is not None:
                text, future = request
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    speech = self._render(engine, capture, text, path)
                except (RuntimeError, OSError, wave.Error, SpeechError) as exc:
                    future.set_exception(exc if isinstance(exc, SpeechError) else SpeechError(f"{text!r}: {exc}"))
                    continue
                with self._lock:
                    self._cache[(text, self.voice, self.rate_wpm)] = speech
                    while len(self._cache) > self.cache_phrases:
                        self._cache.popitem(last=False)
                future.set_result(speech)
        with contextlib.suppress(RuntimeError):
            engine.stop()

    def _render(self, engine: Any, capture: _EspeakCapture, text: str, path: Path) -> Speech:
        if self.voice is not None:
            engine.setProperty("voice", self.voice)
        engine.setProperty("rate", self.rate_wpm)
        if capture.available:
            pcm, words = capture.render(text, ESPEAK_RATE_HZ)
            if not len(pcm):
                raise SpeechError(f"{text!r}: espeak-ng produced no audio")
            return Speech(text, pcm, ESPEAK_RATE_HZ, words)
        # SAPI5 and other drivers: pyttsx3's own file output; word starts from the pauses.
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
            width = wav.getsampwidth()
        if width != 2 or not raw:
            raise SpeechError(f"{text!r}: the synthesiser produced no 16-bit audio")
        pcm = to_float32(np.frombuffer(raw, dtype="<i2"))
        return Speech(text, pcm, rate, pause_starts(pcm, rate))
