"""The replay buffer: the newest finished segments on disk, within an age and a byte budget.

Each `Segment` is one fragmented MP4 file of `segment_s` seconds (it decodes on its own) plus, in
memory, the capture time and session time of every frame (16 bytes a frame). The buffer keeps
segments whose end is within `keep_s` (60 s) of the newest one; older ones are deleted. A segment
may be *pinned* (a clip being cut from it, an upload in flight): a pinned segment outlives
`keep_s`, but never the byte budget: when the files add up to more than `max_bytes`, the oldest
go, pinned or not (whoever pinned it finds the file gone and says so). Disk use is therefore at
most `max_bytes` plus the segment being written; memory is the index alone.

Thread-safe: the encoder adds, the clip builder and the uploader read and pin.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

KEEP_S: Final = 60.0
MAX_BYTES: Final = 400_000_000
"""Disk budget: 60 s at 720p30 is ~30 MB at the rate cap; 400 MB leaves room for 1080p60 and pins."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One finished segment (see the module docstring)."""

    segment_id: str
    path: Path
    bytes: int
    frame_times_s: npt.NDArray[np.float64]
    """Capture clock (monotonic) time of each frame."""
    frame_session_s: npt.NDArray[np.float64]
    """Session time (the telemetry's clock) of each frame."""
    width: int
    height: int
    fps: int
    encoder: str

    @property
    def frames(self) -> int:
        return len(self.frame_times_s)

    @property
    def start_mono_s(self) -> float:
        return float(self.frame_times_s[0])

    @property
    def end_mono_s(self) -> float:
        """The end of the last frame (its time plus one frame period)."""
        return float(self.frame_times_s[-1]) + 1.0 / self.fps

    @property
    def start_s(self) -> float:
        """Session time of the first frame."""
        return float(self.frame_session_s[0])

    @property
    def end_s(self) -> float:
        """Session time at the end of the last frame."""
        return float(self.frame_session_s[-1]) + 1.0 / self.fps


class ReplayBuffer:
    """See the module docstring."""

    def __init__(self, folder: Path, *, keep_s: float = KEEP_S, max_bytes: int = MAX_BYTES) -> None:
        self.folder = folder
        self.keep_s = keep_s
        self.max_bytes = max_bytes
        self._segments: OrderedDict[str, Segment] = OrderedDict()
        self._pins: dict[str, int] = {}
        self._lock = threading.Lock()
        self.deleted = 0
        self.deleted_pinned = 0

    def prepare(self) -> None:
        """Create the folder and delete segments a previous run left behind."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob("seg-*.mp4"):
            try:
                stale.unlink()
            except OSError as exc:
                logger.warning("cannot delete the old segment %s: %s", stale, exc)

    # ---------------------------------------------------------------- reading

    def __len__(self) -> int:
        with self._lock:
            return len(self._segments)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(s.bytes for s in self._segments.values())

    def segments(self) -> list[Segment]:
        with self._lock:
            return list(self._segments.values())

    def get(self, segment_id: str) -> Segment | None:
        with self._lock:
            return self._segments.get(segment_id)

    def newest(self) -> Segment | None:
        with self._lock:
            return next(reversed(self._segments.values()), None)

    def covering(self, start_mono_s: float, end_mono_s: float) -> list[Segment]:
        """The segments with a frame in [start, end] (capture clock), oldest first."""
        with self._lock:
            return [s for s in self._segments.values() if s.end_mono_s > start_mono_s and s.start_mono_s <= end_mono_s]

    # ---------------------------------------------------------------- changing

    def add(self, segment: Segment) -> None:
        with self._lock:
            self._segments[segment.segment_id] = segment
            doomed = self._evictions()
        self._delete(doomed)

    def pin(self, segment_ids: Iterable[str]) -> list[str]:
        """Keep these past `keep_s` until unpinned; returns the ids that were still there."""
        pinned = []
        with self._lock:
            for segment_id in segment_ids:
                if segment_id in self._segments:
                    self._pins[segment_id] = self._pins.get(segment_id, 0) + 1
                    pinned.append(segment_id)
        return pinned

    def unpin(self, segment_ids: Iterable[str]) -> None:
        with self._lock:
            for segment_id in segment_ids:
                count = self._pins.get(segment_id, 0) - 1
                if count > 0:
                    self._pins[segment_id] = count
                else:
                    self._pins.pop(segment_id, None)
            doomed = self._evictions()
        self._delete(doomed)

    def clear(self) -> None:
        """Delete every segment (the recorder stopped)."""
        with self._lock:
            doomed = list(self._segments.values())
            self._segments.clear()
            self._pins.clear()
        self._delete(doomed)

    def _evictions(self) -> list[Segment]:
        """Remove (under the lock) what is too old or over budget; the caller deletes the files."""
        doomed: list[Segment] = []
        if not self._segments:
            return doomed
        newest_end = next(reversed(self._segments.values())).end_mono_s
        for segment in list(self._segments.values())[:-1]:
            if newest_end - segment.end_mono_s > self.keep_s and segment.segment_id not in self._pins:
                doomed.append(self._segments.pop(segment.segment_id))
        total = sum(s.bytes for s in self._segments.values())
        for pinned_too in (False, True):
            for segment in list(self._segments.values())[:-1]:
                if total <= self.max_bytes:
                    break
                if segment.segment_id in self._pins and not pinned_too:
                    continue
                if pinned_too:
                    self.deleted_pinned += 1
                    logger.warning("video budget reached: deleting %s although it is in use", segment.segment_id)
                    self._pins.pop(segment.segment_id, None)
                doomed.append(self._segments.pop(segment.segment_id))
                total -= segment.bytes
        return doomed

    def _delete(self, segments: list[Segment]) -> None:
        for segment in segments:
            self.deleted += 1
            try:
                segment.path.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("cannot delete the segment %s: %s", segment.path, exc)
