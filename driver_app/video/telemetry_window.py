"""The telemetry beside a clip: a ring of recent canonical frames, and the window written as JSON.

`TelemetryRing` keeps the newest frames the pipeline read (numpy records of
`adapters.model.FRAME_DTYPE`, ~200 bytes each: two minutes at 60 Hz is ~1.5 MB). The pipeline
appends from its thread; the clip builder takes a window by session time from another.

`window_document` turns a window into the JSON document saved beside a clip
(`clip-ID.telemetry.json`) and uploaded with it. Schema (version 1):

    {
      "format": "pitbox-telemetry-window", "version": 1,
      "clip_id": "clip-...",                  the clip's segment id
      "car_id": 1 | null,                     the relay's car id, when known
      "window": {"start_s": ..., "end_s": ..., "event_s": ...},
                                              session seconds (the sim's clock): the clip's span and
                                              the moment it was made for
      "events": [{"at_s": ..., "source": "voice" | "menu" | "incident:spin" | ..., "detail": "..."}],
      "channels": [{"name": "speed_mps", "unit": "m/s", "kind": "continuous" | "discrete",
                    "shape": [] | [4], "description": "..."}, ...],
                                              every channel of the canonical model, in order
      "frames": {"count": N, "stride": 1, "session_time_s": [...], "speed_mps": [...], ...},
                                              one list per channel, N values each (per-tyre channels:
                                              N lists of 4, LF RF LR RR); values rounded to the
                                              channel's precision; NaN (not provided) is null
      "video": {"file": "clip-....mp4", "width": 1280, "height": 720, "fps": 30,
                "frame_session_time_s": [...]}
                                              the session time of each video frame of the clip, in
                                              order: frame k of the MP4 shows the car at that time
    }

The document stays under `MAX_DOCUMENT_BYTES` (the relay's limit is 5 MB): a window that would
be larger (a long window from a sim that ticks fast) keeps every 2nd, 4th, ... frame, and says so
in `frames.stride`.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.model import CHANNELS, FRAME_DTYPE, Channel, empty_frames, json_ready

FORMAT: Final = "pitbox-telemetry-window"
VERSION: Final = 1
MAX_DOCUMENT_BYTES: Final = 4_500_000
"""Below the relay's 5 MB limit for a clip's telemetry."""
RING_FRAMES: Final = 60 * 150
"""Two and a half minutes at 60 Hz: a clip's window (20 s) plus the time a clip waits for its video."""


class TelemetryRing:
    """The newest `capacity` frames (see the module docstring). Thread-safe."""

    def __init__(self, capacity: int = RING_FRAMES) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._frames = empty_frames(capacity)
        self._count = 0
        """Frames ever appended (the next write goes to `_count % capacity`)."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    def extend(self, frames: npt.NDArray[np.void]) -> None:
        """Append records of FRAME_DTYPE, oldest first."""
        if frames.dtype != FRAME_DTYPE:
            raise ValueError("TelemetryRing takes records of FRAME_DTYPE")
        if len(frames) > self.capacity:
            frames = frames[-self.capacity :]
        n = len(frames)
        with self._lock:
            start = self._count % self.capacity
            first = min(n, self.capacity - start)
            self._frames[start : start + first] = frames[:first]
            self._frames[: n - first] = frames[first:]
            self._count += n

    def newest_s(self) -> float | None:
        """The session time of the newest frame (None when empty)."""
        with self._lock:
            if self._count == 0:
                return None
            return float(self._frames[(self._count - 1) % self.capacity]["session_time_s"])

    def window(self, start_s: float, end_s: float) -> npt.NDArray[np.void]:
        """A copy of the frames with `start_s <= session_time_s <= end_s`, oldest first.

        After a session restart (time went backwards) only the newest stretch counts.
        """
        with self._lock:
            if self._count <= self.capacity:
                ordered = self._frames[: self._count].copy()
            else:
                split = self._count % self.capacity
                ordered = np.concatenate((self._frames[split:], self._frames[:split]))
        times = ordered["session_time_s"]
        resets = np.flatnonzero(np.diff(times) < 0)
        if len(resets):
            ordered, times = ordered[resets[-1] + 1 :], times[resets[-1] + 1 :]
        return ordered[(times >= start_s) & (times <= end_s)]


def _decimals(channel: Channel) -> int | None:
    """Decimal places worth keeping for a float channel (None: not a float)."""
    if np.dtype(channel.dtype).kind != "f":
        return None
    return max(0, -math.floor(math.log10(channel.precision))) if channel.precision > 0 else 6


def _column(channel: Channel, values: npt.NDArray[Any]) -> list[Any]:
    decimals = _decimals(channel)
    if decimals is None:
        return values.tolist()  # type: ignore[no-any-return]
    return json_ready(np.round(values.astype(np.float64), decimals).tolist())  # type: ignore[no-any-return]


def channel_table() -> list[dict[str, Any]]:
    return [
        {
            "name": c.name,
            "unit": c.unit,
            "kind": c.kind.value,
            "shape": list(c.shape),
            "description": c.description,
        }
        for c in CHANNELS
    ]


def window_document(
    frames: npt.NDArray[np.void],
    *,
    clip_id: str,
    start_s: float,
    end_s: float,
    event_s: float,
    events: Sequence[Mapping[str, Any]] = (),
    car_id: int | None = None,
    video: Mapping[str, Any] | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> bytes:
    """The JSON document (UTF-8 bytes) for a clip's telemetry window; see the module docstring."""
    stride = 1
    while True:
        kept = frames[::stride]
        document = {
            "format": FORMAT,
            "version": VERSION,
            "clip_id": clip_id,
            "car_id": car_id,
            "window": {"start_s": round(start_s, 3), "end_s": round(end_s, 3), "event_s": round(event_s, 3)},
            "events": [dict(e) for e in events],
            "channels": channel_table(),
            "frames": {
                "count": len(kept),
                "stride": stride,
                **{c.name: _column(c, kept[c.name]) for c in CHANNELS},
            },
            "video": dict(video) if video is not None else None,
        }
        data = json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8")
        if len(data) <= max_bytes or len(kept) <= 1:
            return data
        stride *= 2


def frames_from_document(document: Mapping[str, Any]) -> npt.NDArray[np.void]:
    """The frames of a window document back as records of FRAME_DTYPE (null -> the channel's missing value)."""
    columns = document["frames"]
    frames = empty_frames(int(columns["count"]))
    for channel in CHANNELS:
        values = columns.get(channel.name)
        if values is None:
            continue
        array = np.array(
            [channel.missing if v is None else v for v in values]
            if not channel.shape
            else [[channel.missing if x is None else x for x in row] for row in values],
            dtype=channel.dtype,
        )
        if len(array):
            frames[channel.name] = array
    return frames
