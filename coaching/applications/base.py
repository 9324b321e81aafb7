"""What an application sees: the frame sample, the analysed lap, and the copilot's context.

An application is a small class with any of these hooks (the copilot calls only those it has):

- `on_frame(sample, ctx)`: every in-world frame (keep it to a few comparisons: it runs at 60 Hz);
- `on_lap_start(lap, sample, ctx)`: the car started lap `lap` (as the sim counts laps);
- `on_lap(analysed, ctx)`: a lap was completed and analysed (segments, features, reference).

It speaks through `ctx.submit(message)` (now) or `ctx.plan(...)` (a call tied to a place on a
coming lap, released when the car gets near it and timed to finish before it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

from adapters.model import Lap, LapKind, SessionInfo
from coaching.history import History, SegmentFeatures
from coaching.messages import Message, Priority, Verbosity
from coaching.reference import ReferenceLap
from coaching.segments import SegmentMap
from coaching.trace import LapTrace
from strategy.live import StrategySnapshot

MPS_TO_KPH: Final = 3.6
MPS_TO_MPH: Final = 2.236936
M_TO_FT: Final = 3.28084


class Sample(NamedTuple):
    """One frame's values that the applications read (SI units)."""

    t: float
    lap: int
    dist_m: float
    frac: float
    speed_mps: float
    throttle: float
    brake: float
    on_pit_road: bool
    pit_limiter: bool
    surface: int
    flags: int
    car_left_right: int
    incidents: int
    fuel_l: float
    yaw_rate_radps: float
    lat_accel_mps2: float
    long_accel_mps2: float
    session_state: int


SAMPLE_CHANNELS: Final = (
    "session_time_s",
    "lap",
    "lap_dist_m",
    "lap_dist_frac",
    "speed_mps",
    "throttle",
    "brake",
    "on_pit_road",
    "pit_limiter",
    "track_surface",
    "session_flags",
    "car_left_right",
    "incident_count",
    "fuel_level_l",
    "yaw_rate_radps",
    "lat_accel_mps2",
    "long_accel_mps2",
    "session_state",
)
"""The FRAME_DTYPE columns behind `Sample`'s fields, in the same order."""


@dataclass(frozen=True, slots=True)
class CoachSettings:
    """Thresholds and habits of the copilot (SI units; `units` only changes what is said)."""

    verbosity: Verbosity = Verbosity.NORMAL
    units: str = "metric"
    reaction_s: float = 0.8
    """Time the driver needs between the end of a call and acting on it."""
    brake_point_threshold_m: float = 10.0
    brake_pressure_threshold: float = 0.25
    throttle_pickup_threshold_m: float = 15.0
    coast_threshold_m: float = 20.0
    apex_speed_threshold_mps: float = 2.5
    max_coaching_calls_per_lap: int = 3
    guide_laps: int = 2
    """Laps at the start of a session on which the track guide reads its notes."""
    fuel_call_every_laps: int = 5
    spotter_confirm_frames: int = 2
    spotter_clear_s: float = 0.3
    spotter_still_there_s: float = 5.0
    spin_yaw_excess_radps: float = 1.2
    lockup_brake: float = 0.97
    lockup_min_s: float = 0.2
    lockup_decel_ratio: float = 0.85
    """A pinned pedal is a lock-up when the car decelerates less than this share of what the pedal
    gives with the tyres rolling (learned from the session's unsaturated braking)."""
    debug: bool = False

    def __post_init__(self) -> None:
        if self.units not in ("metric", "imperial"):
            raise ValueError(f"units must be 'metric' or 'imperial', not {self.units!r}")
        for name in ("reaction_s", "brake_point_threshold_m", "spotter_clear_s", "lockup_min_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be non-negative")
        if self.spotter_confirm_frames < 1 or self.max_coaching_calls_per_lap < 0:
            raise ValueError("spotter_confirm_frames must be >= 1 and max_coaching_calls_per_lap >= 0")

    def speed_words(self, speed_mps: float) -> str:
        if self.units == "imperial":
            return f"{round(speed_mps * MPS_TO_MPH)} miles an hour"
        return f"{round(speed_mps * MPS_TO_KPH)} k p h"

    def distance_words(self, distance_m: float) -> str:
        if self.units == "imperial":
            return f"{max(5, int(round(distance_m * M_TO_FT / 10.0)) * 10)} feet"
        return f"{max(5, int(round(distance_m / 5.0)) * 5)} metres"


@dataclass(frozen=True, slots=True)
class AnalysedLap:
    """A completed lap with what coaching made of it.

    `reference`: the reference lap (before this lap could replace it); `reference_features`: per
    segment, the features of the clean lap quickest through that segment's sector (the reference
    lap's, or a better sector of this session), on the current segments.
    """

    lap: Lap
    trace: LapTrace | None
    features: Mapping[str, SegmentFeatures]
    reference: ReferenceLap | None
    reference_features: Mapping[str, SegmentFeatures]


def comparable(analysed: AnalysedLap) -> bool:
    """A flying lap with something else to compare it with (not the reference lap itself)."""
    reference = analysed.reference
    if analysed.lap.kind is not LapKind.FLYING or reference is None:
        return False
    return analysed.trace is None or reference.trace is not analysed.trace


def say(
    ctx: Context,
    s: Sample,
    text: str,
    *,
    priority: Priority,
    category: str,
    stale_after_s: float,
    key: str,
    verbosity: Verbosity = Verbosity.QUIET,
    repeat_after_s: float = 30.0,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Submit a call about the present moment (made at the frame's time, stale `stale_after_s` later)."""
    ctx.submit(
        Message(
            text=text,
            priority=priority,
            category=category,
            created_s=s.t,
            deadline_s=s.t + stale_after_s,
            key=key,
            verbosity=verbosity,
            repeat_after_s=repeat_after_s,
            data=dict(data or {}),
        )
    )


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A call tied to a place on a coming lap.

    Released when the car reaches `ready_m` on `lap`; must start before `say_before_m` on that lap.
    """

    lap: int
    ready_m: float
    say_before_m: float
    text: str
    priority: Priority
    category: str
    verbosity: Verbosity
    segment_id: str | None = None
    key: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class Context(Protocol):
    """The copilot as applications see it."""

    settings: CoachSettings
    session: SessionInfo | None
    segments: SegmentMap
    history: History
    reference: ReferenceLap | None
    strategy: StrategySnapshot | None
    laps_started: int

    def submit(self, message: Message) -> None: ...

    def plan(self, call: PlannedCall) -> None: ...

    def segment_name(self, segment_id: str) -> str: ...

    def record_incident(self, kind: str, sample: Sample, detail: str) -> None: ...


FrameHook = Callable[[Sample, Context], None]
