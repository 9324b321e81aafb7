"""Track segments learned from laps: braking zones and corners, with ids that stay put.

A corner starts where the driver lifts or brakes and ends at the throttle pickup after the apex
(the first return to full throttle); corners closer than `merge_gap_m` are one segment (a
sequence such as an esses). A lift that hardly slows the car is not a corner. The braking zone is
the part of the segment with the brake pedal down.

`SegmentMap` keeps the segments of one track and car. A corner found on a new lap takes the id of
the stored segment it overlaps, so ids are stable by lap distance across laps and sessions; its
boundaries are averaged over the laps seen. Corners the map does not know yet get new ids. The map
is plain data (`to_dict`/`from_dict`); `coaching.store` persists it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from coaching.errors import SegmentStoreError
from coaching.trace import LapTrace

FORMAT: Final = 1
BRAKE_ON: Final = 0.05
"""Brake pedal above this is braking."""
LIFT_BELOW: Final = 0.9
"""Throttle below this (with the brake off) is a lift."""
MIN_SPEED_DROP_MPS: Final = 2.0
"""A lift without braking is a corner only when the car slows by at least this much."""
MIN_BRAKE_S: Final = 0.15
"""Braking shorter than this (a tap to settle the car) does not make a corner by itself."""
MERGE_GAP_M: Final = 30.0
"""Corners closer than this are merged into one segment."""
MAX_WEIGHT_LAPS: Final = 20
"""Boundaries average over at most this many laps, so a changed line is followed."""


@dataclass(frozen=True, slots=True)
class DetectedCorner:
    """A corner found on one lap (lap distances, m)."""

    start_m: float
    end_m: float
    apex_m: float
    min_speed_mps: float
    brake_start_m: float | None
    brake_end_m: float | None


@dataclass(frozen=True, slots=True)
class Segment:
    """A corner of the track as the map knows it (lap distances, m)."""

    id: str
    name: str
    start_m: float
    end_m: float
    apex_m: float
    brake_start_m: float | None
    brake_end_m: float | None
    laps_seen: int = 1

    @property
    def zone_start_m(self) -> float:
        """Where the car enters the segment's braking zone or corner, whichever comes first."""
        return self.start_m if self.brake_start_m is None else min(self.start_m, self.brake_start_m)

    def overlaps(self, corner: DetectedCorner, tolerance_m: float) -> bool:
        return corner.start_m <= self.end_m + tolerance_m and corner.end_m >= self.start_m - tolerance_m

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {
            "id": self.id,
            "name": self.name,
            "start_m": r(self.start_m),
            "end_m": r(self.end_m),
            "apex_m": r(self.apex_m),
            "brake_start_m": r(self.brake_start_m),
            "brake_end_m": r(self.brake_end_m),
            "laps_seen": self.laps_seen,
        }


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the True runs of `mask`."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def detect_corners(trace: LapTrace, *, merge_gap_m: float = MERGE_GAP_M) -> list[DetectedCorner]:
    """The corners of one lap, in lap-distance order."""
    braking = trace.brake > BRAKE_ON
    active = braking | (trace.throttle < LIFT_BELOW)
    dist, speed = trace.dist_m, trace.speed_mps
    runs: list[tuple[int, int]] = []
    for start, stop in _runs(active):
        if runs and dist[start] - dist[runs[-1][1] - 1] < merge_gap_m:
            runs[-1] = (runs[-1][0], stop)
        else:
            runs.append((start, stop))
    corners: list[DetectedCorner] = []
    for start, stop in runs:
        part = slice(start, stop)
        apex = start + int(np.argmin(speed[part]))
        entry_speed = float(speed[max(start - 1, 0)])
        brake_idx = np.flatnonzero(braking[part]) + start
        brake_s = float(trace.t_s[brake_idx[-1]] - trace.t_s[brake_idx[0]]) if len(brake_idx) else 0.0
        dropped = entry_speed - float(speed[apex]) >= MIN_SPEED_DROP_MPS
        if not (dropped or brake_s >= MIN_BRAKE_S):
            continue
        end = min(stop, len(dist) - 1)
        corners.append(
            DetectedCorner(
                start_m=float(dist[start]),
                end_m=float(dist[end]),
                apex_m=float(dist[apex]),
                min_speed_mps=float(speed[apex]),
                brake_start_m=float(dist[brake_idx[0]]) if len(brake_idx) else None,
                brake_end_m=float(dist[brake_idx[-1]]) if len(brake_idx) else None,
            )
        )
    return corners


@dataclass(frozen=True, slots=True)
class CornerName:
    """A name for the corner whose apex is near `apex_m` (from a track file or track notes)."""

    apex_m: float
    name: str
    id: str | None = None


class SegmentMap:
    """The segments of one track and car, learned lap after lap."""

    def __init__(
        self,
        track_length_m: float,
        segments: Sequence[Segment] = (),
        *,
        names: Sequence[CornerName] = (),
        tolerance_m: float = 25.0,
    ) -> None:
        self.track_length_m = track_length_m
        self.names = tuple(names)
        self.tolerance_m = tolerance_m
        self._segments = sorted(segments, key=lambda s: s.start_m)
        self._next_number = 1 + max((_number(s.id) for s in segments), default=0)
        self._index()

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segments)

    def __len__(self) -> int:
        return len(self._segments)

    def get(self, segment_id: str) -> Segment | None:
        for segment in self._segments:
            if segment.id == segment_id:
                return segment
        return None

    def match(self, corners: Sequence[DetectedCorner]) -> list[str | None]:
        """The id of the known segment each corner overlaps (None for a corner the map lacks)."""
        ids: list[str | None] = []
        for corner in corners:
            best = self._best_overlap(corner)
            ids.append(None if best is None else best.id)
        return ids

    def learn(self, corners: Sequence[DetectedCorner]) -> list[str]:
        """Add one lap's corners: refine the segments they match, create the rest; their ids."""
        ids: list[str] = []
        for corner in corners:
            known = self._best_overlap(corner)
            if known is None:
                segment = self._new_segment(corner)
                self._segments.append(segment)
            else:
                segment = _averaged(known, corner)
                self._segments[self._segments.index(known)] = segment
            ids.append(segment.id)
            self._segments.sort(key=lambda s: s.start_m)
        self._merge_overlapping()
        self._index()
        return ids

    # ------------------------------------------------------------ zones, for the copilot

    def zone_at(self, lap_dist_m: float) -> Segment | None:
        """The segment whose braking zone or corner contains `lap_dist_m`."""
        i = bisect.bisect_right(self._zone_starts, lap_dist_m) - 1
        if i >= 0 and lap_dist_m <= self._zone_ends[i]:
            return self._segments[i]
        return None

    def next_zone_start_m(self, lap_dist_m: float) -> float:
        """Distance to the start of the next braking zone or corner (inf when none is known)."""
        i = bisect.bisect_right(self._zone_starts, lap_dist_m)
        if i < len(self._zone_starts):
            return self._zone_starts[i] - lap_dist_m
        if self._zone_starts:
            return self._zone_starts[0] + self.track_length_m - lap_dist_m
        return math.inf

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "track_length_m": self.track_length_m,
            "segments": [s.to_dict() for s in self._segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, names: Sequence[CornerName] = ()) -> SegmentMap:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SegmentStoreError(
                f"segment map format is {data.get('format') if isinstance(data, dict) else data!r}, expected {FORMAT}"
            )
        try:
            segments = [
                Segment(
                    id=str(s["id"]),
                    name=str(s["name"]),
                    start_m=float(s["start_m"]),
                    end_m=float(s["end_m"]),
                    apex_m=float(s["apex_m"]),
                    brake_start_m=None if s["brake_start_m"] is None else float(s["brake_start_m"]),
                    brake_end_m=None if s["brake_end_m"] is None else float(s["brake_end_m"]),
                    laps_seen=int(s["laps_seen"]),
                )
                for s in data["segments"]
            ]
            return cls(float(data["track_length_m"]), segments, names=names)
        except (KeyError, TypeError, ValueError) as exc:
            raise SegmentStoreError(f"segment map is malformed: {exc}") from exc

    # ------------------------------------------------------------ internals

    def _index(self) -> None:
        self._zone_starts = [s.zone_start_m for s in self._segments]
        self._zone_ends = [s.end_m for s in self._segments]

    def _best_overlap(self, corner: DetectedCorner) -> Segment | None:
        candidates = [s for s in self._segments if s.overlaps(corner, self.tolerance_m)]
        if not candidates:
            return None
        return min(candidates, key=lambda s: abs(s.apex_m - corner.apex_m))

    def _new_segment(self, corner: DetectedCorner) -> Segment:
        named = [
            n for n in self.names if corner.start_m - self.tolerance_m <= n.apex_m <= corner.end_m + self.tolerance_m
        ]
        taken = {s.id for s in self._segments}
        named = [n for n in named if n.id not in taken and n.name not in {s.name for s in self._segments}]
        first = min(named, key=lambda n: abs(n.apex_m - corner.apex_m)) if named else None
        if first is not None and first.id:
            segment_id, name = first.id, first.name
        else:
            segment_id = f"C{self._next_number}"
            name = first.name if first is not None else f"corner {self._next_number}"
            self._next_number += 1
        return Segment(
            id=segment_id,
            name=name,
            start_m=corner.start_m,
            end_m=corner.end_m,
            apex_m=corner.apex_m,
            brake_start_m=corner.brake_start_m,
            brake_end_m=corner.brake_end_m,
        )

    def _merge_overlapping(self) -> None:
        merged: list[Segment] = []
        for segment in self._segments:
            if merged and segment.start_m <= merged[-1].end_m:
                first = merged[-1]
                merged[-1] = replace(
                    first,
                    end_m=max(first.end_m, segment.end_m),
                    brake_end_m=_max_opt(first.brake_end_m, segment.brake_end_m),
                    brake_start_m=_min_opt(first.brake_start_m, segment.brake_start_m),
                )
            else:
                merged.append(segment)
        self._segments = merged


def _averaged(known: Segment, corner: DetectedCorner) -> Segment:
    n = min(known.laps_seen, MAX_WEIGHT_LAPS)

    def mix(old: float | None, new: float | None) -> float | None:
        if old is None:
            return new
        if new is None:
            return old
        return (old * n + new) / (n + 1)

    return replace(
        known,
        start_m=(known.start_m * n + corner.start_m) / (n + 1),
        end_m=(known.end_m * n + corner.end_m) / (n + 1),
        apex_m=(known.apex_m * n + corner.apex_m) / (n + 1),
        brake_start_m=mix(known.brake_start_m, corner.brake_start_m),
        brake_end_m=mix(known.brake_end_m, corner.brake_end_m),
        laps_seen=known.laps_seen + 1,
    )


def _number(segment_id: str) -> int:
    return int(segment_id[1:]) if segment_id[:1] == "C" and segment_id[1:].isdigit() else 0


def _min_opt(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max_opt(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
