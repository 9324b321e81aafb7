"""Helpers for the coaching tests: synthetic laps (speed and pedal profiles along lap distance, made into a
LapTrace), and `Drive`, a car lapping a simple track at 60 Hz through a real Copilot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import EllipsisType
from typing import Any

import numpy as np

from adapters.model import (
    CarLeftRight,
    DriverEntry,
    FrameBlock,
    SessionInfo,
    SessionType,
    TrackInfo,
    TrackSurface,
    empty_frames,
)
from coaching.applications.base import CoachSettings
from coaching.copilot import Copilot
from coaching.messages import Call, Message
from coaching.trace import LapTrace
from driver_app.coach_files import copilot_files


def grid(length_m: float, step_m: float = 1.0, start_m: float = 0.0) -> np.ndarray:
    """Lap distances from `start_m` up to (not including) `length_m`."""
    return np.arange(start_m, length_m, step_m, dtype=np.float64)


def along(dist: np.ndarray, points: Sequence[tuple[float, float]]) -> np.ndarray:
    """A profile through (distance, value) points, linear in between and flat beyond the ends."""
    xs, ys = zip(*points, strict=True)
    return np.interp(dist, xs, ys)


def pedal(dist: np.ndarray, default: float, spans: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """`default` everywhere except on each [start, stop) span, where the pedal is at its value."""
    values = np.full(len(dist), default, dtype=np.float64)
    for start, stop, value in spans:
        values[(dist >= start) & (dist < stop)] = value
    return values


def make_trace(
    dist: np.ndarray,
    speed: np.ndarray,
    throttle: np.ndarray,
    brake: np.ndarray,
    *,
    lap: int = 1,
    track_length_m: float | None = None,
    lap_time_s: float | None | EllipsisType = ...,
) -> LapTrace:
    """A lap whose times follow from the speeds (each step at the mean speed of its two samples).

    `lap_time_s`: by default the time of the samples; None for a lap without a time.
    """
    dt = np.diff(dist) / ((speed[:-1] + speed[1:]) / 2.0)
    t = np.concatenate(([0.0], np.cumsum(dt)))
    n = len(dist)
    return LapTrace(
        lap=lap,
        lap_time_s=float(t[-1]) if lap_time_s is ... else lap_time_s,
        track_length_m=float(dist[-1] + (dist[1] - dist[0])) if track_length_m is None else track_length_m,
        dist_m=np.asarray(dist, dtype=np.float64),
        t_s=t,
        speed_mps=np.asarray(speed, dtype=np.float64),
        throttle=np.asarray(throttle, dtype=np.float64),
        brake=np.asarray(brake, dtype=np.float64),
        gear=np.full(n, 4.0),
        long_accel_mps2=np.gradient(speed, t),
        lat_accel_mps2=np.zeros(n),
        steering_angle_rad=np.zeros(n),
    )


def time_linear(length_m: float, v0: float, v1: float) -> float:
    """Exact time to cover `length_m` with the speed changing linearly with distance from v0 to v1."""
    if v0 == v1:
        return length_m / v0
    return float(length_m * np.log(v1 / v0) / (v1 - v0))


# --------------------------------------------------------------------------- frames through a Copilot

FPS = 60
FRAME_S = 1 / FPS
T0 = 100.0
LENGTH_M = 1000.0


def make_session(length_m: float = LENGTH_M, laps: int | None = None) -> SessionInfo:
    driver = DriverEntry(0, "Test Driver", 1, "7", "Test Car", "testcar", 1, "GT")
    return SessionInfo(
        sim="test",
        track=TrackInfo("test_track", "Test Track", "", length_m),
        session_type=SessionType.RACE,
        session_name="RACE",
        player_car_idx=0,
        drivers=(driver,),
        laps=laps,
    )


class Drive:
    """A car lapping a `length_m` track at 60 Hz through a Copilot running `applications`.

    Every channel has a plain racing default (full throttle, on track, no flags, nobody alongside);
    `run` overrides any of them for its frames. Every message the applications submit is recorded.
    """

    def __init__(
        self,
        *applications: Any,
        settings: CoachSettings | None = None,
        laps: int | None = None,
        length_m: float = LENGTH_M,
        start_m: float = 100.0,
        fuel_l: float = 50.0,
        burn_l_per_lap: float = 0.0,
        data_dir: Path | None = None,
    ) -> None:
        self.copilot = Copilot(
            make_session(length_m, laps),
            settings=settings,
            applications=list(applications),
            **copilot_files(data_dir, notes_dir=None),
        )
        self.length_m = length_m
        self.start_m = start_m
        self.fuel_l = fuel_l
        self.burn_l_per_m = burn_l_per_lap / length_m
        self.frame = 0
        self.travelled_m = 0.0
        self.submitted: list[Message] = []
        self.calls: list[Call] = []
        self.lap_of_frame: list[int] = []
        original = self.copilot.arbiter.submit

        def record(message: Message) -> None:
            self.submitted.append(message)
            original(message)

        self.copilot.arbiter.submit = record  # type: ignore[method-assign]

    @property
    def t(self) -> float:
        """Session time of the next frame."""
        return T0 + self.frame / FPS

    def run(self, n: int, *, speed: float = 40.0, **channels: Any) -> list[Call]:
        frames = empty_frames(n)
        speeds = np.full(n, float(speed))
        travelled = self.travelled_m + np.concatenate(([0.0], np.cumsum(speeds[:-1] / FPS)))
        absolute = self.start_m + travelled
        laps = 1 + np.floor(absolute / self.length_m).astype(np.int64)
        dist = absolute - (laps - 1) * self.length_m
        defaults: dict[str, Any] = {
            "session_time_s": T0 + (self.frame + np.arange(n)) / FPS,
            "in_world": True,
            "is_on_track": True,
            "lap": laps,
            "lap_completed": laps - 1,
            "lap_dist_m": dist,
            "lap_dist_frac": dist / self.length_m,
            "speed_mps": speeds,
            "throttle": 1.0,
            "brake": 0.0,
            "gear": 4,
            "steering_angle_rad": 0.0,
            "lat_accel_mps2": 0.0,
            "long_accel_mps2": 0.0,
            "yaw_rate_radps": 0.0,
            "fuel_level_l": self.fuel_l - self.burn_l_per_m * travelled,
            "on_pit_road": False,
            "pit_limiter": False,
            "track_surface": int(TrackSurface.ON_TRACK),
            "session_flags": 0,
            "session_state": 4,
            "car_left_right": int(CarLeftRight.CLEAR),
            "incident_count": 0,
        }
        defaults.update(channels)
        for name, value in defaults.items():
            frames[name] = value
        self.frame += n
        self.travelled_m = float(travelled[-1] + speeds[-1] / FPS)
        self.lap_of_frame.extend(laps.tolist())
        calls = self.copilot.process(FrameBlock(frames))
        self.calls.extend(calls)
        return calls

    def run_for(self, seconds: float, *, chunk: int = 600, **kwargs: Any) -> None:
        left = round(seconds * FPS)
        while left > 0:
            self.run(min(chunk, left), **kwargs)
            left -= chunk

    def frame_time(self, index: int) -> float:
        return T0 + index / FPS

    def first_time_on_lap(self, lap: int) -> float:
        return self.frame_time(self.lap_of_frame.index(lap))

    def texts(self, category: str | None = None) -> list[str]:
        return [m.text for m in self.submitted if category is None or m.category == category]


def within_a_frame_after(actual: float, expected: float) -> bool:
    """`actual` is the first frame at or after `expected` (times on the 60 Hz grid)."""
    return expected - 1e-6 <= actual < expected + FRAME_S + 1e-6
