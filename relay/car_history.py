"""What the relay remembers of one car for the dashboard (pure: frames in, JSON-ready values out).

`CarHistory` is fed the car's frames as they arrive (`feed`, one block at a time, in order) and
its session info (`on_session`). It keeps:

* the lap table: one row per lap that ended at the line (`adapters.laps.LapSplitter` finds them,
  exactly as the rest of PitBox does), with its stint, pit visit, position, incidents and delta
  to the best flying lap; at most `max_rows` rows;
* the best flying lap's trace (speed, pedals and elapsed time on equally spaced lap fractions) and
  the last flying lap's time lost per segment against it;
* a track map learned from the car's clean flying laps (`relay.track_map`).

Samples are kept in a ring of at most `max_samples` in-world frames (20,000: 5.5 minutes at 60 Hz),
enough for the lap that just ended plus the splitter's few seconds of delay. A lap whose start
has already left the ring (a lap longer than the ring) still gets its row; it gives no trace and
no map. Session time going backwards (a new session) restarts lap splitting but keeps the rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.laps import LapSplitter
from adapters.model import FrameBlock, Lap, LapKind, json_ready
from relay.track_map import TrackMap, TrackMapError, TrackMapLearner, outline_from_lap, track_key

logger = logging.getLogger(__name__)

__all__ = ["CarHistory"]

FloatArray = npt.NDArray[np.float64]

MAX_ROWS: Final = 500
MAX_SAMPLES: Final = 20_000
"""Ring size in frames: one long lap (5.5 minutes at 60 Hz) and the splitter's delay."""
SESSION_RESTART_S: Final = 1.0
"""Session time going back by more than this starts a new stream (a new session)."""
MAX_DRIVER_CHANGES: Final = 64
MAX_TICK_GAP_S: Final = 0.5
"""A lap whose samples have a gap longer than this (or miss its start or end) gives no trace or map."""

_SAMPLE_DTYPE: Final = np.dtype(
    [
        ("session_time_s", "f8"),
        ("lap_dist_frac", "f4"),
        ("latitude_deg", "f8"),
        ("longitude_deg", "f8"),
        ("speed_mps", "f4"),
        ("yaw_rate_radps", "f4"),
        ("throttle", "f4"),
        ("brake", "f4"),
        ("on_pit_road", "?"),
        ("position", "i2"),
        ("incident_count", "i4"),
        ("fuel_level_l", "f4"),
    ]
)


@dataclass(frozen=True, slots=True, eq=False)
class _Trace:
    """One flying lap on equally spaced fractions, and its elapsed time at the segment boundaries."""

    lap: int
    time_s: float
    frac: FloatArray
    speed_mps: FloatArray
    throttle: FloatArray
    brake: FloatArray
    elapsed_s: FloatArray
    boundary_elapsed_s: FloatArray


def _rounded(values: FloatArray, digits: int) -> list[float | None]:
    return [None if not math.isfinite(v) else round(v, digits) for v in values.tolist()]


class CarHistory:
    """The lap table, stints, best-lap trace, segment losses and learned map of one car."""

    def __init__(
        self,
        car_id: int,
        *,
        trace_points: int = 500,
        segments: int = 20,
        max_rows: int = MAX_ROWS,
        max_samples: int = MAX_SAMPLES,
    ) -> None:
        if trace_points < 2 or segments < 1 or max_rows < 1 or max_samples < 2:
            raise ValueError("trace_points >= 2, segments >= 1, max_rows >= 1 and max_samples >= 2")
        self.car_id = car_id
        self.trace_points = trace_points
        self.segments = segments
        self.max_rows = max_rows
        self._ring = np.zeros(max_samples, dtype=_SAMPLE_DTYPE)
        self._ring_count = 0  # samples written in all; the newest is at (count - 1) % size
        self._splitter = LapSplitter()
        self._last_time_s = -math.inf
        self._on_pit: bool | None = None  # pit-road state of the newest in-world frame
        self._first_exit_starts_stint_1 = False
        self._stint_base = 1  # the stint driven when this stream (session) began
        self._stint_starts_s: list[float] = []  # session times, in this stream, at which later stints started
        self._track = "unknown"
        self._length_m = math.nan
        self._drivers: list[tuple[float, str]] = []  # (session time from which, name)
        self._rows: list[dict[str, Any]] = []
        self._stint_rows: dict[int, int] = {}
        self._best: tuple[int, float] | None = None  # (lap, time) of the best flying lap
        self._best_trace: _Trace | None = None
        self._last_trace: _Trace | None = None
        self._learner = TrackMapLearner()

    # ---------------------------------------------------------------- input

    def on_session(self, session: Mapping[str, Any]) -> None:
        """Remember the track, the driver now in the car and the lap length. A new track starts afresh."""
        key = track_key(session)
        if key != "unknown" and key != self._track:
            if self._track != "unknown":
                self._reset_track()
            self._track = key
        track = session.get("track")
        length = track.get("length_m") if isinstance(track, Mapping) else None
        if isinstance(length, int | float) and not isinstance(length, bool) and length > 0:
            self._length_m = float(length)
        driver = session.get("driver")
        if isinstance(driver, str) and (not self._drivers or self._drivers[-1][1] != driver):
            since = self._last_time_s if self._drivers else -math.inf
            self._drivers.append((since, driver))
            del self._drivers[:-MAX_DRIVER_CHANGES]

    def feed(self, block: FrameBlock) -> list[dict[str, Any]]:
        """The car's next frames (in order); returns the rows of the laps that became final."""
        if len(block) == 0:
            return []
        times = block.session_time_s
        if float(times[0]) < self._last_time_s - SESSION_RESTART_S:
            self._restart_stream()
        world = block.in_world
        self._store(block, world)
        self._track_pit_exits(times[world], block.on_pit_road[world])
        self._last_time_s = max(self._last_time_s, float(times[-1]))
        rows: list[dict[str, Any]] = []
        for index in range(len(block)):
            for lap in self._splitter.feed(block[index]):
                rows.append(self._on_lap(lap))
        return rows

    # ---------------------------------------------------------------- output

    @property
    def stint(self) -> int:
        """The stint now being driven (1-based)."""
        return self._stint_base + len(self._stint_starts_s)

    def laps_view(self) -> dict[str, Any]:
        """The lap table: `{"car_id", "driver", "laps", "best_lap", "best_time_s", "stint", "stint_laps"}`.

        Each row's `delta_to_best_s` is against the best flying lap now (the best lap shows 0), as a
        timing screen shows it; the rows `feed` returns carry it against the best before the lap."""
        best = None if self._best is None else self._best[1]
        rows = [
            {
                **row,
                "delta_to_best_s": None if best is None or row["time_s"] is None else round(row["time_s"] - best, 3),
            }
            for row in self._rows
        ]
        return {
            "car_id": self.car_id,
            "driver": self._drivers[-1][1] if self._drivers else None,
            "laps": rows,
            "best_lap": None if self._best is None else self._best[0],
            "best_time_s": None if self._best is None else round(self._best[1], 3),
            "stint": self.stint,
            "stint_laps": self._stint_rows.get(self.stint, 0),
        }

    def best_trace(self) -> dict[str, Any] | None:
        """The best flying lap on `trace_points` equally spaced fractions (None before one)."""
        trace = self._best_trace
        if trace is None:
            return None
        return {
            "lap": trace.lap,
            "time_s": round(trace.time_s, 3),
            "frac": _rounded(trace.frac, 5),
            "speed_mps": _rounded(trace.speed_mps, 2),
            "throttle": _rounded(trace.throttle, 3),
            "brake": _rounded(trace.brake, 3),
            "elapsed_s": _rounded(trace.elapsed_s, 3),
        }

    def segment_losses(self) -> dict[str, Any] | None:
        """Time the last flying lap lost (+) or gained (-) against the best in each of `segments` equal parts."""
        best, last = self._best_trace, self._last_trace
        if best is None or last is None:
            return None
        loss = np.diff(last.boundary_elapsed_s) - np.diff(best.boundary_elapsed_s)
        return {"lap": last.lap, "best_lap": best.lap, "loss_s": _rounded(loss, 3)}

    def learned_map(self) -> TrackMap | None:
        """The map averaged from this car's clean flying laps (None before the first)."""
        return self._learner.map(self._track, self._length_m)

    # ---------------------------------------------------------------- samples

    def _store(self, block: FrameBlock, world: npt.NDArray[np.bool_]) -> None:
        frames = block.frames[world]
        size = len(self._ring)
        if len(frames) > size:
            frames = frames[-size:]
        count = len(frames)
        if count == 0:
            return
        slots = (self._ring_count + np.arange(count)) % size
        for name in _SAMPLE_DTYPE.names or ():
            self._ring[name][slots] = frames[name]
        self._ring_count += count

    def _samples(self, start_s: float, end_s: float) -> npt.NDArray[np.void]:
        """Ring samples with start_s <= t < end_s, oldest first."""
        size = len(self._ring)
        held = min(self._ring_count, size)
        first = (self._ring_count - held) % size
        ordered = np.roll(self._ring, -first)[:held] if held == size else self._ring[:held]
        times = ordered["session_time_s"]
        a = int(np.searchsorted(times, start_s, side="left"))
        b = int(np.searchsorted(times, end_s, side="left"))
        return ordered[a:b]

    def _track_pit_exits(self, times: FloatArray, on_pit: npt.NDArray[np.bool_]) -> None:
        if len(on_pit) == 0:
            return
        if self._on_pit is None:
            # A car first seen on pit road (garage, pit box) starts stint 1 when it leaves; in a
            # later session, leaving the pits starts the next stint.
            self._first_exit_starts_stint_1 = bool(on_pit[0]) and not self._rows
            self._on_pit = bool(on_pit[0])
        previous = np.concatenate(([self._on_pit], on_pit[:-1]))
        for at in times[previous & ~on_pit].tolist():
            if self._first_exit_starts_stint_1:
                self._first_exit_starts_stint_1 = False  # leaving the garage or pit box at the start
            else:
                self._stint_starts_s.append(at)
        self._on_pit = bool(on_pit[-1])

    def _restart_stream(self) -> None:
        self._splitter = LapSplitter()
        self._stint_base = self.stint
        self._stint_starts_s = []
        self._ring_count = 0
        self._last_time_s = -math.inf
        self._on_pit = None
        self._drivers = self._drivers[-1:]
        if self._drivers:
            self._drivers[0] = (-math.inf, self._drivers[0][1])

    def _reset_track(self) -> None:
        self._best = None
        self._best_trace = None
        self._last_trace = None
        self._learner = TrackMapLearner()

    # ---------------------------------------------------------------- laps

    def _driver_at(self, time_s: float) -> str | None:
        name = None
        for since, driver in self._drivers:
            if since <= time_s:
                name = driver
        return name if name is not None else (self._drivers[0][1] if self._drivers else None)

    def _on_lap(self, lap: Lap) -> dict[str, Any]:
        start_s = lap.start_time_s
        previous_end = self._rows[-1]["end_time_s"] if self._rows else None
        lower = start_s if start_s is not None else (previous_end if previous_end is not None else -math.inf)
        samples = self._samples(lower, lap.end_time_s)
        before = self._samples(-math.inf, lower)[-1:]

        stint = self._stint_base + sum(1 for at in self._stint_starts_s if at < lap.end_time_s)
        self._stint_rows[stint] = self._stint_rows.get(stint, 0) + 1
        pit = bool(samples["on_pit_road"].any()) or lap.kind in (LapKind.IN, LapKind.OUT)
        position = int(samples["position"][-1]) if len(samples) else 0
        incidents: int | None = None
        counts = np.concatenate((before["incident_count"], samples["incident_count"]))
        if len(counts) and (counts >= 0).all():
            incidents = max(int(counts[-1]) - int(counts[0]), 0)
        delta = None
        if lap.time_s is not None and self._best is not None:
            delta = round(lap.time_s - self._best[1], 3)

        row = lap.to_dict()
        row.update(
            stint=stint,
            stint_lap=self._stint_rows[stint],
            pit=pit,
            position=position if position > 0 else None,
            incidents=incidents,
            driver=self._driver_at(lower if math.isfinite(lower) else lap.end_time_s),
            delta_to_best_s=delta,
        )
        ready: dict[str, Any] = json_ready(row)
        self._rows.append(ready)
        del self._rows[: -self.max_rows]

        if lap.kind is LapKind.FLYING and lap.time_s is not None and start_s is not None:
            self._on_flying_lap(lap, lap.time_s, start_s, samples)
        return ready

    def _on_flying_lap(self, lap: Lap, time_s: float, start_s: float, samples: npt.NDArray[np.void]) -> None:
        if self._best is None or time_s < self._best[1]:
            self._best = (lap.number, time_s)
        complete = (
            len(samples) >= 2
            and float(samples["session_time_s"][0]) - start_s <= MAX_TICK_GAP_S
            and lap.end_time_s - float(samples["session_time_s"][-1]) <= MAX_TICK_GAP_S
            and float(np.diff(samples["session_time_s"]).max()) <= MAX_TICK_GAP_S
        )
        if not complete:
            logger.debug("car %s lap %s: samples incomplete, no trace or map", self.car_id, lap.number)
            return
        trace = self._trace(lap.number, time_s, start_s, samples)
        self._last_trace = trace
        if self._best[0] == lap.number:
            self._best_trace = trace
        if not samples["on_pit_road"].any():
            try:
                outline, source = outline_from_lap(
                    samples["lap_dist_frac"],
                    samples["latitude_deg"],
                    samples["longitude_deg"],
                    samples["speed_mps"],
                    samples["yaw_rate_radps"],
                    samples["session_time_s"],
                )
            except TrackMapError as exc:
                logger.debug("car %s lap %s gives no outline: %s", self.car_id, lap.number, exc)
            else:
                self._learner.add_lap(outline, source)

    def _trace(self, number: int, time_s: float, start_s: float, samples: npt.NDArray[np.void]) -> _Trace:
        frac = np.fmax.accumulate(np.clip(samples["lap_dist_frac"].astype(np.float64), 0.0, 1.0))
        frac = np.nan_to_num(frac, nan=0.0)
        elapsed = samples["session_time_s"] - start_s
        # Anchor the line at both ends: fraction 0 at the lap's start, 1 at its end.
        frac_ext = np.concatenate(([0.0], frac, [1.0]))
        elapsed_ext = np.concatenate(([0.0], elapsed, [time_s]))
        grid = np.linspace(0.0, 1.0, self.trace_points)

        def at(values: Any, where: FloatArray) -> FloatArray:
            result: FloatArray = np.interp(where, frac, np.asarray(values, dtype=np.float64))
            return result

        boundaries = np.linspace(0.0, 1.0, self.segments + 1)
        return _Trace(
            lap=number,
            time_s=time_s,
            frac=grid,
            speed_mps=at(samples["speed_mps"], grid),
            throttle=at(samples["throttle"], grid),
            brake=at(samples["brake"], grid),
            elapsed_s=np.interp(grid, frac_ext, elapsed_ext),
            boundary_elapsed_s=np.interp(boundaries, frac_ext, elapsed_ext),
        )
