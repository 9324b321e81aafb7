"""`ClockMap`: the capture clock (`time.monotonic`) turned into the telemetry's session time and back.

The pipeline reads the sim at ~120 Hz; after each read it adds one sample (the monotonic time of
the read, the session time of the newest frame). A monotonic time `m` maps to the session time
of the last sample at or before `m` plus the time elapsed since it, but never past the next
sample's session time: while the sim runs in real time this is the sim's clock, and while it is
paused (session time stands still) every capture in the pause maps to the paused time. Before
the first sample the first sample's offset applies; with no sample at all the monotonic time is
used as it is (`empty` tells).

Accuracy: a frame is read at most one sim tick plus one poll after the sim made it (~25 ms at
60 Hz), under one video frame at 30 fps. Samples are kept at most every `min_interval_s` and at
most `max_samples` of them (~7 minutes by default): a capture older than that maps with the oldest
sample's offset. Thread-safe: the pipeline adds, the video threads read.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Final

import numpy as np
import numpy.typing as npt

MIN_INTERVAL_S: Final = 0.05
MAX_SAMPLES: Final = 8192


class ClockMap:
    """See the module docstring."""

    def __init__(self, *, min_interval_s: float = MIN_INTERVAL_S, max_samples: int = MAX_SAMPLES) -> None:
        self.min_interval_s = min_interval_s
        self._mono: deque[float] = deque(maxlen=max_samples)
        self._session: deque[float] = deque(maxlen=max_samples)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._mono)

    @property
    def empty(self) -> bool:
        return not self._mono

    def add(self, mono_s: float, session_s: float) -> None:
        """A read of the sim at monotonic `mono_s` whose newest frame has session time `session_s`."""
        with self._lock:
            if self._mono:
                if mono_s < self._mono[-1]:
                    return  # not monotonic: ignore
                same_clock = session_s >= self._session[-1]
                if same_clock and mono_s - self._mono[-1] < self.min_interval_s:
                    return
            self._mono.append(mono_s)
            self._session.append(session_s)

    def to_session(self, mono_s: float) -> float:
        """The session time at monotonic time `mono_s`."""
        return float(self.to_session_array(np.array([mono_s], dtype=np.float64))[0])

    def to_session_array(self, mono_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """`to_session` for many times at once."""
        with self._lock:
            monos = np.fromiter(self._mono, dtype=np.float64, count=len(self._mono))
            sessions = np.fromiter(self._session, dtype=np.float64, count=len(self._session))
        times = np.asarray(mono_s, dtype=np.float64)
        if len(monos) == 0:
            return times.copy()
        index = np.searchsorted(monos, times, side="right") - 1
        before = index < 0
        index = np.clip(index, 0, len(monos) - 1)
        result = sessions[index] + (times - monos[index])
        following = np.minimum(index + 1, len(monos) - 1)
        has_next = (index + 1 < len(monos)) & ~before
        capped = np.where(
            has_next & (sessions[following] >= sessions[index]),
            np.minimum(result, sessions[following]),
            result,
        )
        return np.asarray(capped, dtype=np.float64)

    def to_mono(self, session_s: float) -> float:
        """The monotonic time at which the session was at `session_s` (the latest, after a reset)."""
        with self._lock:
            monos = list(self._mono)
            sessions = list(self._session)
        if not monos:
            return session_s
        # Newest first, within the newest stretch of samples (one sim session: no backward jump).
        for i in range(len(monos) - 1, -1, -1):
            if sessions[i] <= session_s:
                mono = monos[i] + (session_s - sessions[i])
                if i + 1 < len(monos):
                    mono = min(mono, monos[i + 1])
                return mono
            if i == 0 or sessions[i - 1] > sessions[i]:
                return monos[i] - (sessions[i] - session_s)  # before the stretch began
        raise AssertionError("unreachable")
