"""`History`: what the driver did in every segment of every lap.

Per segment and lap: entry speed, brake point, peak brake, minimum speed and where, throttle
pickup, distance coasted, and the time spent in the segment. The applications compare a lap's
features with the reference lap's; the report ranks segments by the time lost and its spread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from adapters.model import Lap
from coaching.segments import BRAKE_ON, Segment
from coaching.trace import LapTrace

PICKUP_THROTTLE: Final = 0.5
"""Throttle at or above this after the apex is the pickup."""
COAST_BELOW: Final = 0.05
"""Both pedals below this is coasting."""
BRAKE_SEARCH_BEFORE_M: Final = 120.0
"""How far before a segment's known braking zone a brake point is searched (an early brake)."""
MAX_LAPS_KEPT: Final = 500


@dataclass(frozen=True, slots=True)
class SegmentFeatures:
    """One lap through one segment (SI units, lap distances in m)."""

    segment_id: str
    entry_speed_mps: float
    brake_point_m: float | None
    peak_brake: float
    min_speed_mps: float
    min_speed_at_m: float
    throttle_pickup_m: float | None
    coast_m: float
    time_s: float
    """Time from the start of the braking zone or corner to its end."""
    sector_time_s: float
    """Time from the end of the previous segment (or the line) to the end of this one: the
    straight before a corner counts, so an early brake point shows as time lost."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment_id,
            "entry_speed_mps": round(self.entry_speed_mps, 2),
            "brake_point_m": None if self.brake_point_m is None else round(self.brake_point_m, 1),
            "peak_brake": round(self.peak_brake, 3),
            "min_speed_mps": round(self.min_speed_mps, 2),
            "min_speed_at_m": round(self.min_speed_at_m, 1),
            "throttle_pickup_m": None if self.throttle_pickup_m is None else round(self.throttle_pickup_m, 1),
            "coast_m": round(self.coast_m, 1),
            "time_s": round(self.time_s, 3),
            "sector_time_s": round(self.sector_time_s, 3),
        }


def best_sectors(candidates: Iterable[Mapping[str, SegmentFeatures]]) -> dict[str, SegmentFeatures]:
    """Per segment, the features of the lap that was quickest through its sector."""
    best: dict[str, SegmentFeatures] = {}
    for features in candidates:
        for segment_id, f in features.items():
            known = best.get(segment_id)
            if known is None or f.sector_time_s < known.sector_time_s:
                best[segment_id] = f
    return best


def segment_features(trace: LapTrace, segments: Sequence[Segment]) -> dict[str, SegmentFeatures]:
    """The features of every segment on one lap (segments the lap does not cover are left out)."""
    dist = trace.dist_m
    result: dict[str, SegmentFeatures] = {}
    previous_end = -np.inf
    for segment in segments:
        zone_start = segment.zone_start_m
        if dist[0] > zone_start or dist[-1] < segment.end_m:
            previous_end = segment.end_m
            continue
        search_from = max(previous_end, zone_start - BRAKE_SEARCH_BEFORE_M)
        i0, i_apex_limit, i1 = np.searchsorted(dist, [search_from, segment.apex_m + 30.0, segment.end_m])
        j0 = int(np.searchsorted(dist, zone_start))
        window = slice(int(i0), max(int(i_apex_limit), int(i0) + 1))
        braking = np.flatnonzero(trace.brake[window] > BRAKE_ON)
        brake_point = float(dist[window][braking[0]]) if len(braking) else None
        # Up to and including the sample at the segment's end: the pickup can fall on it.
        end = min(int(i1) + 1, len(dist))
        core = slice(j0 if brake_point is None else min(j0, int(i0) + int(braking[0])), max(end, j0 + 1))
        speeds = trace.speed_mps[core]
        k_min = int(np.argmin(speeds))
        after = trace.throttle[core][k_min:]
        pickup = np.flatnonzero(after >= PICKUP_THROTTLE)
        coasting = (trace.throttle[core] < COAST_BELOW) & (trace.brake[core] < COAST_BELOW)
        step = np.diff(dist[core], append=dist[core][-1])
        t_start, t_end, t_sector = trace.time_at(np.array([zone_start, segment.end_m, max(previous_end, 0.0)]))
        result[segment.id] = SegmentFeatures(
            segment_id=segment.id,
            entry_speed_mps=float(np.interp(zone_start, dist, trace.speed_mps)),
            brake_point_m=brake_point,
            peak_brake=float(trace.brake[window].max(initial=0.0)),
            min_speed_mps=float(speeds[k_min]),
            min_speed_at_m=float(dist[core][k_min]),
            throttle_pickup_m=float(dist[core][k_min + int(pickup[0])]) if len(pickup) else None,
            coast_m=float(step[coasting].sum()),
            time_s=float(t_end - t_start),
            sector_time_s=float(t_end - t_sector),
        )
        previous_end = segment.end_m
    return result


@dataclass(frozen=True, slots=True)
class LapRecord:
    lap: Lap
    features: dict[str, SegmentFeatures]


class History:
    """Every analysed lap's segment features, oldest first (bounded)."""

    def __init__(self) -> None:
        self._records: list[LapRecord] = []

    def add(self, lap: Lap, features: dict[str, SegmentFeatures]) -> LapRecord:
        record = LapRecord(lap, features)
        self._records.append(record)
        del self._records[:-MAX_LAPS_KEPT]
        return record

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> tuple[LapRecord, ...]:
        return tuple(self._records)

    def laps(self) -> list[Lap]:
        return [r.lap for r in self._records]

    def feature(self, segment_id: str, name: str, *, laps: Iterable[int] | None = None) -> np.ndarray:
        """One feature of one segment over the laps (NaN where the lap lacks it)."""
        wanted = None if laps is None else set(laps)
        values = []
        for record in self._records:
            if wanted is not None and record.lap.number not in wanted:
                continue
            f = record.features.get(segment_id)
            value = None if f is None else getattr(f, name)
            values.append(np.nan if value is None else float(value))
        return np.asarray(values, dtype=np.float64)
