"""A lap as arrays along lap distance: the shape every comparison between laps works on.

`LapTrace` holds one lap's in-world samples with distance made strictly increasing, time measured
from the interpolated line crossing, and the driver's inputs. Distances are metres from the line;
times are seconds from the start of the lap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.model import FrameBlock, Lap
from coaching.errors import NotEnoughLapError, SegmentStoreError

FloatArray = npt.NDArray[np.float64]

MIN_SAMPLES: Final = 20
CHANNELS: Final = ("speed_mps", "throttle", "brake", "gear", "long_accel_mps2", "lat_accel_mps2", "steering_angle_rad")
"""The per-sample channels a trace keeps besides distance and time."""


@dataclass(frozen=True, slots=True, eq=False)
class LapTrace:
    """One lap along distance. Arrays share one length; `dist_m` strictly increases."""

    lap: int
    lap_time_s: float | None
    track_length_m: float
    dist_m: FloatArray
    t_s: FloatArray
    speed_mps: FloatArray
    throttle: FloatArray
    brake: FloatArray
    gear: FloatArray
    long_accel_mps2: FloatArray
    lat_accel_mps2: FloatArray
    steering_angle_rad: FloatArray

    @classmethod
    def from_block(cls, block: FrameBlock, lap: Lap, track_length_m: float) -> LapTrace:
        """The trace of `lap` from the frames of that lap (`block` is the lap's slice)."""
        world = np.asarray(block.in_world, dtype=bool)
        dist = np.asarray(block.lap_dist_m, dtype=np.float64)[world]
        frac = np.asarray(block.lap_dist_frac, dtype=np.float64)[world]
        length = track_length_m if track_length_m > 0 else float(np.nanmax(dist, initial=0.0))
        # Some sims only give the fraction; iRacing gives both. Prefer the fraction times the
        # official length so that laps of every car line up on the same distances.
        if length > 0 and np.isfinite(frac).all():
            dist = frac * length
        if len(dist) < MIN_SAMPLES:
            raise NotEnoughLapError(f"lap {lap.number} has {len(dist)} in-world samples")
        keep = dist > np.maximum.accumulate(np.concatenate(([-np.inf], dist[:-1])))
        times = np.asarray(block.session_time_s, dtype=np.float64)[world]
        start = lap.start_time_s if lap.start_time_s is not None else float(times[0])
        columns = {name: np.asarray(getattr(block, name), dtype=np.float64)[world][keep] for name in CHANNELS}
        return cls(
            lap=lap.number,
            lap_time_s=lap.time_s,
            track_length_m=length,
            dist_m=dist[keep],
            t_s=times[keep] - start,
            **columns,
        )

    def __len__(self) -> int:
        return len(self.dist_m)

    def time_at(self, dist_m: FloatArray | float) -> FloatArray:
        """Lap time elapsed when the car passed `dist_m` (interpolated)."""
        result: FloatArray = np.asarray(np.interp(dist_m, self.dist_m, self.t_s), dtype=np.float64)
        return result

    def resample(self, step_m: float) -> LapTrace:
        """The same lap on a regular distance grid (for storage and plots)."""
        end = self.dist_m[-1]
        grid = np.arange(math.ceil(self.dist_m[0] / step_m) * step_m, end + 1e-9, step_m)
        columns = {name: np.interp(grid, self.dist_m, getattr(self, name)) for name in ("t_s", *CHANNELS)}
        return LapTrace(self.lap, self.lap_time_s, self.track_length_m, grid, **columns)

    def to_dict(self, step_m: float = 2.0) -> dict[str, Any]:
        """JSON-ready, resampled to `step_m` and rounded to each channel's useful precision."""
        grid = self.resample(step_m)
        return {
            "lap": self.lap,
            "lap_time_s": self.lap_time_s,
            "track_length_m": self.track_length_m,
            "dist_m": np.round(grid.dist_m, 2).tolist(),
            "t_s": np.round(grid.t_s, 4).tolist(),
            **{name: np.round(getattr(grid, name), 3).tolist() for name in CHANNELS},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LapTrace:
        try:
            arrays = {name: np.asarray(data[name], dtype=np.float64) for name in ("dist_m", "t_s", *CHANNELS)}
            lap_time = data["lap_time_s"]
            trace = cls(
                lap=int(data["lap"]),
                lap_time_s=None if lap_time is None else float(lap_time),
                track_length_m=float(data["track_length_m"]),
                **arrays,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SegmentStoreError(f"stored lap trace is malformed: {exc}") from exc
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1 or len(trace) < 2 or not (np.diff(trace.dist_m) > 0).all():
            raise SegmentStoreError("stored lap trace has arrays of different lengths or unordered distances")
        return trace
