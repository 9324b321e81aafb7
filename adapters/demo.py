"""The built-in demo sim: a deterministic race at PitBox Park, produced as canonical telemetry at 60 Hz.

One job: stand in for a real sim. `DemoSim` generates every channel of `FRAME_DTYPE` for the
player's car and the per-car arrays of `CAR_DTYPE` for the whole field, lap after lap, from a seed;
`DemoAdapter` wraps it in the `SimAdapter` contract and releases its frames at real time times
`speed` (time is passed in, nothing here sleeps or reads a clock).

How a lap is made (vectorised with numpy; generation runs over a thousand times faster than real time):

1. A lap plan: the player's brake point for every corner (the track file's reference point, plus a
   few metres of jitter, plus any injected offset), corner speeds, and the lap's incidents
   (lock-ups, off-tracks, spins) and pit stop.
2. A point-mass speed profile on a 0.5 m grid of lap distance: full-throttle acceleration limited
   by traction, power and drag; braking from the brake point down to the corner's minimum speed at
   the end of the braking zone (the deceleration follows from entry speed and zone length, so a
   later brake point means a higher entry speed and harder braking); the minimum speed held to the
   throttle point. Stops (pit stall, spins) are time spent at one distance.
3. Time along the lap from the profile, then every 60 Hz tick interpolated from it. Curvature from
   the track model gives lateral acceleration (v^2 k), yaw rate (v k) and steering; gear and RPM
   follow speed; fuel burns with throttle and RPM; tyre temperatures follow the load through
   first-order lags; wear follows load and distance; position on the map comes from the outline.

Opponents are simpler: each follows the reference lap's time-distance curve scaled to its own pace
(two classes, a +-1.5 % spread within a class), with its own lap-to-lap noise and pit stops.
Positions are ranks of laps + lap fraction. The player's car is index 1; index 0 is the pace car,
which stays out of the world, as in iRacing.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters import base
from adapters.base import (
    AdapterEvent,
    AdapterState,
    ConnectionTracker,
    DriverSwap,
    SessionChanged,
)
from adapters.demo_track import (
    Corner,
    GeoOrigin,
    PitLane,
    TrackModel,
    build_outline,
    closure_error,
    load_track,
    track_path,
    track_to_json,
)
from adapters.errors import AdapterError, TrackModelError
from adapters.model import (
    MAX_CARS,
    CarLeftRight,
    DriverEntry,
    FrameBlock,
    SessionFlag,
    SessionInfo,
    SessionType,
    TelemetryFrame,
    TrackSurface,
    empty_cars,
    empty_frames,
)

logger = logging.getLogger(__name__)

Array = npt.NDArray[Any]
FloatArray = npt.NDArray[np.float64]

TICK_RATE_HZ: Final = 60
DT_S: Final = 1.0 / TICK_RATE_HZ
GRAVITY_MPS2: Final = 9.80665
LAST_LAP_DELAY_S: Final = 1.8
"""Like iRacing, the last lap time is published this long after the car crosses the line."""
COOLDOWN_S: Final = 5.0
"""Ticks produced after the player takes the checkered flag, before the session ends."""
PACE_CAR_IDX: Final = 0
PLAYER_CAR_IDX: Final = 1
GRID_STEP_M: Final = 0.5
REFUEL_LPS: Final = 2.5
TYRE_CHANGE_S: Final = 14.0
DRIVER_SWAP_S: Final = 28.0
OPPONENT_STOP_S: Final = 22.0
GT3_CLASS_ID: Final = 1
GT4_CLASS_ID: Final = 2
GT4_PACE_FACTOR: Final = 1.075
ALONGSIDE_M: Final = 5.0
"""Cars whose centres are closer than this along the track are alongside (the spotter calls them)."""

_TYRE_SIDE: Final = np.array([1.0, -1.0, 1.0, -1.0])  # +1 left tyres (LF, LR), -1 right tyres
_TYRE_FRONT: Final = np.array([1.0, 1.0, 0.0, 0.0])


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class CarSpec:
    """The point-mass car: power, drag, grip, gearing, steering and fuel use (SI units)."""

    name: str = "PitBox GT3"
    path: str = "pitbox_gt3"
    mass_kg: float = 1350.0
    power_w: float = 390_000.0
    drag_n_per_mps2: float = 0.80
    """0.5 * air density * CdA: drag force = this * v^2."""
    rolling_n: float = 200.0
    traction_mps2: float = 9.0
    brake_full_mps2: float = 17.0
    """Deceleration with the brake pedal fully pressed."""
    speed_per_krpm_mps: tuple[float, ...] = (3.6, 4.9, 6.1, 7.3, 8.6, 10.2)
    shift_rpm: float = 7600.0
    idle_rpm: float = 1500.0
    max_rpm: float = 8200.0
    wheelbase_m: float = 2.7
    steering_ratio: float = 13.0
    tank_l: float = 100.0
    fuel_idle_lps: float = 0.0006
    fuel_full_lps: float = 0.056

    def accel_mps2(self, speed_mps: FloatArray) -> FloatArray:
        """Full-throttle longitudinal acceleration at each speed (traction or power limited, minus drag)."""
        v = np.maximum(speed_mps, 1e-3)
        drive = np.minimum(self.traction_mps2, self.power_w / (self.mass_kg * v))
        result: FloatArray = drive - (self.drag_n_per_mps2 * v * v + self.rolling_n) / self.mass_kg
        return result


@dataclass(frozen=True, slots=True)
class DemoVariance:
    """How much the demo driver and the race vary. Probabilities are per corner and lap."""

    brake_jitter_sd_m: float = 2.0
    min_speed_jitter_frac: float = 0.006
    lockup_prob: float = 0.015
    off_track_prob: float = 0.008
    spin_prob: float = 0.0015
    yellow_mean_interval_s: float | None = 240.0
    """Mean time between local yellow flags (None: no yellows except after the player's spins)."""

    @classmethod
    def calm(cls) -> DemoVariance:
        """Brake-point jitter only: no lock-ups, off-tracks, spins or yellows."""
        return cls(lockup_prob=0.0, off_track_prob=0.0, spin_prob=0.0, yellow_mean_interval_s=None)

    @classmethod
    def none(cls) -> DemoVariance:
        """A robot: the same lap every time."""
        return cls(
            brake_jitter_sd_m=0.0,
            min_speed_jitter_frac=0.0,
            lockup_prob=0.0,
            off_track_prob=0.0,
            spin_prob=0.0,
            yellow_mean_interval_s=None,
        )


BrakeOffsets = Callable[[int, str], float] | Mapping[tuple[int, str], float]
"""Metres the player's brake point moves (positive = later) on (lap, corner id)."""


class SessionEndedError(AdapterError):
    """The demo session is over (the player took the checkered flag); there are no more ticks."""


# --------------------------------------------------------------------------- kinematics


class _AccelCurve:
    """Distance needed to reach each speed at full throttle from standstill, and its inverse."""

    def __init__(self, car: CarSpec) -> None:
        v = np.linspace(0.0, 120.0, 24_001)
        a = car.accel_mps2(v)
        top = float(v[np.argmax(a <= 0.02)]) if (a <= 0.02).any() else 120.0
        self.top_speed_mps = top
        self.speed = np.linspace(0.0, top, 6_000)
        accel = np.maximum(car.accel_mps2(self.speed), 0.02)
        integrand = self.speed / accel
        self.distance = np.concatenate(([0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(self.speed))))

    def speed_after(self, start_mps: float, distance_m: FloatArray) -> FloatArray:
        """Speed after accelerating flat out over `distance_m` from `start_mps`."""
        origin = float(np.interp(start_mps, self.speed, self.distance))
        result: FloatArray = np.interp(origin + distance_m, self.distance, self.speed)
        return result


_HOLD_FRAC: Final = 0.65
"""Full braking holds to this fraction of the zone, then trails off..."""
_TRAIL_END: Final = 0.2
"""...to this fraction of the peak deceleration at the end of the zone."""
OVERSHOOT_FREE_M: Final = 5.0
"""Metres past the reference brake point the car still makes the corner at its usual speed."""
OVERSHOOT_SPEED_LOSS_PER_M: Final = 0.0025
"""Share of the apex speed lost per metre braked later than that (overshooting the corner), per
unit of the corner's entry-to-apex speed ratio: overshooting a hairpin costs more than a kink."""
_PEDAL_RAMP_S: Final = 0.1
"""Time the driver takes to press the brake pedal."""


def _pedal_ramp_m(zone_m: float, entry_speed_mps: float) -> float:
    return min(max(_PEDAL_RAMP_S * entry_speed_mps, 0.5), 0.5 * zone_m)


def _braking_shape(x_m: FloatArray, zone_m: float, entry_speed_mps: float) -> FloatArray:
    """Deceleration over a braking zone as a fraction of its peak: ramp in, hold, trail off."""
    ramp_m = _pedal_ramp_m(zone_m, entry_speed_mps)
    hold_end = _HOLD_FRAC * zone_m
    trail = 1.0 - (1.0 - _TRAIL_END) * (x_m - hold_end) / max(zone_m - hold_end, 1e-9)
    shape: FloatArray = np.where(x_m < ramp_m, x_m / ramp_m, np.where(x_m < hold_end, 1.0, trail))
    return np.clip(shape, 0.0, 1.0)


def _braking_shape_integral_m(zone_m: FloatArray, entry_speed_mps: FloatArray) -> FloatArray:
    """Integral of `_braking_shape` over the zone (vectorised over zones)."""
    ramp_m = np.minimum(np.maximum(_PEDAL_RAMP_S * entry_speed_mps, 0.5), 0.5 * zone_m)
    hold_end = _HOLD_FRAC * zone_m
    result: FloatArray = 0.5 * ramp_m + (hold_end - ramp_m) + (zone_m - hold_end) * (1.0 + _TRAIL_END) / 2.0
    return result


def _nominal_decel_mps2(speed_mps: float) -> float:
    """The reference driver's peak braking deceleration (more grip from downforce at speed)."""
    return 11.5 + 4.0 * (speed_mps / 80.0) ** 2


def _design_lat_grip_mps2(speed_mps: float) -> float:
    """Lateral grip the reference corner radius is designed for."""
    return 15.5 + 6.5 * (speed_mps / 70.0) ** 2


def _lag(inputs: FloatArray, start: FloatArray, tau_s: float) -> FloatArray:
    """First-order lag y' = (x - y) / tau sampled every tick, vectorised in chunks; inputs (n, k)."""
    beta = math.exp(-DT_S / tau_s)
    out = np.empty_like(inputs)
    state = np.asarray(start, dtype=np.float64).copy()
    chunk = 240
    powers = beta ** np.arange(1, chunk + 1, dtype=np.float64)
    for a in range(0, len(inputs), chunk):
        x = inputs[a : a + chunk]
        m = len(x)
        p = powers[:m, None]
        # y[n] = beta^(n+1) y0 + (1 - beta) sum_k beta^(n-k) x[k]
        weighted = np.cumsum(x / p, axis=0) * p
        out[a : a + m] = p * state + (1.0 - beta) * weighted
        state = out[a + m - 1]
    return out


# --------------------------------------------------------------------------- lap plans and profiles

_NO_EVENT: Final = 0
_OFF_TRACK: Final = 1
_SPIN: Final = 2


@dataclass(frozen=True, slots=True)
class _CornerPlan:
    brake_m: float
    min_speed_mps: float
    lockup: bool = False
    event: int = _NO_EVENT
    spin_sign: float = 1.0


@dataclass(frozen=True, slots=True)
class _LapPlan:
    lap: int
    corners: tuple[_CornerPlan, ...]
    pit_in: bool = False
    pit_out: bool = False
    stop_s: float = 0.0
    refuel_l: float = 0.0
    swap: bool = False


@dataclass(slots=True)
class _Profile:
    """One lap on the distance grid, before time is attached."""

    v: FloatArray
    throttle: FloatArray
    brake: FloatArray
    clutch: FloatArray
    yaw_extra: FloatArray
    steer_extra: FloatArray
    limiter: npt.NDArray[np.bool_]
    pit_road: npt.NDArray[np.bool_]
    lockup: npt.NDArray[np.bool_]
    surface: npt.NDArray[np.int8]
    dwells: list[tuple[int, float, str]] = field(default_factory=list)
    incidents: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def blank(cls, points: int) -> _Profile:
        zeros = np.zeros(points)
        return cls(
            v=zeros.copy(),
            throttle=zeros.copy(),
            brake=zeros.copy(),
            clutch=zeros.copy(),
            yaw_extra=zeros.copy(),
            steer_extra=zeros.copy(),
            limiter=np.zeros(points, dtype=bool),
            pit_road=np.zeros(points, dtype=bool),
            lockup=np.zeros(points, dtype=bool),
            surface=np.full(points, int(TrackSurface.ON_TRACK), dtype=np.int8),
        )


@dataclass(frozen=True, slots=True, eq=False)
class _Timeline:
    """A lap profile with time attached: grid points (stops duplicated) and their times from the line."""

    t: FloatArray
    s: FloatArray
    v: FloatArray
    accel: FloatArray  # per segment (len - 1)
    throttle: FloatArray
    brake: FloatArray
    clutch: FloatArray
    yaw_extra: FloatArray
    steer_extra: FloatArray
    limiter: npt.NDArray[np.bool_]
    pit_road: npt.NDArray[np.bool_]
    lockup: npt.NDArray[np.bool_]
    surface: npt.NDArray[np.int8]
    dwells: tuple[tuple[float, float, str], ...]  # (start s from the line, duration s, kind)
    incidents: tuple[tuple[float, int], ...]  # (time s from the line, points)

    @property
    def lap_time_s(self) -> float:
        return float(self.t[-1])


@dataclass(frozen=True, slots=True, eq=False)
class _Samples:
    """A timeline sampled at the ticks: continuous values interpolated, states held."""

    s: FloatArray
    v: FloatArray
    accel: FloatArray
    throttle: FloatArray
    brake: FloatArray
    clutch: FloatArray
    yaw_extra: FloatArray
    steer_extra: FloatArray
    limiter: npt.NDArray[np.bool_]
    pit_road: npt.NDArray[np.bool_]
    lockup: npt.NDArray[np.bool_]
    surface: npt.NDArray[np.int8]

    @classmethod
    def of(cls, tl: _Timeline, tau: FloatArray, length_m: float) -> _Samples:
        """Sample at `tau` seconds after the lap's start."""
        pos = np.clip(np.searchsorted(tl.t, tau, side="right") - 1, 0, len(tl.t) - 2)
        w = (tau - tl.t[pos]) / (tl.t[pos + 1] - tl.t[pos])

        def lerp(values: FloatArray) -> FloatArray:
            out: FloatArray = values[pos] + w * (values[pos + 1] - values[pos])
            return out

        return cls(
            s=np.minimum(lerp(tl.s), np.nextafter(length_m, 0.0)),
            v=np.maximum(lerp(tl.v), 0.0),
            accel=tl.accel[pos],
            throttle=lerp(tl.throttle),
            brake=lerp(tl.brake),
            clutch=lerp(tl.clutch),
            yaw_extra=lerp(tl.yaw_extra),
            steer_extra=lerp(tl.steer_extra),
            limiter=tl.limiter[pos],
            pit_road=tl.pit_road[pos],
            lockup=tl.lockup[pos],
            surface=tl.surface[pos],
        )


class _LapBuilder:
    """Builds lap profiles on the distance grid of one track for one car."""

    def __init__(self, track: TrackModel, car: CarSpec) -> None:
        self.track = track
        self.car = car
        self.curve = _AccelCurve(car)
        self.n = int(round(track.length_m / GRID_STEP_M))
        self.ds = track.length_m / self.n
        self.s = np.arange(self.n + 1, dtype=np.float64) * self.ds
        self.curvature = track.curvature_1pm(self.s)
        outline = track.outline
        self.outline_m = np.append(track.outline_distance_m, track.length_m)
        self.altitude = np.interp(self.s, self.outline_m, outline.closed(outline.altitude_m))
        self.grade = np.gradient(self.altitude, self.ds)
        pit = track.pit_lane
        self.v_pit = pit.speed_limit_mps
        self.i_pit_exit = self.index(pit.exit_frac * track.length_m)
        self.i_pit_entry = self.index(pit.entry_frac * track.length_m)
        self.i_pit_lane = self.index(pit.entry_frac * track.length_m - pit.entry_lane_m)
        self.i_stall = self.index(pit.stall_frac * track.length_m)

    def index(self, lap_dist_m: float) -> int:
        return int(min(max(round(lap_dist_m / self.ds), 0), self.n))

    # ---- segments: each fills grid points i..j (inclusive) and returns the speed at j

    def _accelerate(self, p: _Profile, i: int, j: int, v0: float) -> float:
        if j <= i:
            return v0
        x = self.s[i : j + 1] - self.s[i]
        v = self.curve.speed_after(v0, x)
        p.v[i : j + 1] = v
        ramp_m = max(6.0, 0.35 * v0)
        p.throttle[i : j + 1] = np.clip(0.45 + 0.55 * x / ramp_m, 0.0, 1.0)
        p.brake[i : j + 1] = 0.0
        if v0 < 1.0:
            p.clutch[i : j + 1] = np.clip(1.0 - x / 6.0, 0.0, 1.0)
        return float(v[-1])

    def _brake(self, p: _Profile, i: int, j: int, v0: float, v_end: float, lockup: bool = False) -> float:
        if j <= i:
            return v0
        x = self.s[i : j + 1] - self.s[i]
        if v0 <= v_end + 0.3:  # no need to brake: roll into the corner, speed capped at the corner speed
            v = np.minimum(self.curve.speed_after(v0, x), max(v_end, v0))
            p.v[i : j + 1] = v
            p.throttle[i : j + 1] = 0.3
            p.brake[i : j + 1] = 0.0
            return float(v[-1])
        zone = float(x[-1])
        if lockup:
            v_end *= 0.9
        shape = _braking_shape(x, zone, v0)
        integral = np.concatenate(([0.0], np.cumsum(0.5 * (shape[1:] + shape[:-1]) * np.diff(x))))
        peak = (v0 * v0 - v_end * v_end) / (2.0 * float(integral[-1]))
        p.v[i : j + 1] = np.sqrt(np.maximum(v0 * v0 - 2.0 * peak * integral, v_end * v_end))
        pedal = np.clip(peak * shape / self.car.brake_full_mps2, 0.0, 1.0)
        if lockup:
            locked = (x > 0.15 * zone) & (x < 0.55 * zone)
            pedal[locked] = 1.0
            p.lockup[i : j + 1] = locked
        p.brake[i : j + 1] = pedal
        p.throttle[i : j + 1] = 0.0
        return v_end

    def _hold(self, p: _Profile, i: int, j: int, v: float, throttle: float = 0.2) -> None:
        if j < i:
            return
        p.v[i : j + 1] = v
        p.throttle[i : j + 1] = throttle
        p.brake[i : j + 1] = 0.0

    def _off_track(self, p: _Profile, i: int, v0: float, corner: Corner) -> tuple[int, float]:
        """Run wide at the exit: off the track for ~45 m, lifting, and an incident point."""
        i_off = max(self.index(corner.exit_m - 15.0), i + 1)
        v0 = self._accelerate(p, i, i_off, v0)
        j = min(i_off + self.index(45.0), self.n)
        x = self.s[i_off : j + 1] - self.s[i_off]
        v = np.sqrt(np.maximum(v0 * v0 - 2.0 * 4.0 * x, (0.55 * v0) ** 2))
        p.v[i_off : j + 1] = v
        p.throttle[i_off : j + 1] = 0.05
        p.brake[i_off : j + 1] = 0.0
        p.surface[i_off : j + 1] = TrackSurface.OFF_TRACK
        p.incidents.append((i_off, 1))
        return j, float(v[-1])

    def _spin(self, p: _Profile, i: int, v0: float, corner: Corner, sign: float) -> tuple[int, float]:
        """Lose the rear on the exit: spin to a stop off the track, wait, rejoin; two incident points."""
        i_sp = max(self.index(corner.throttle_m + 0.3 * (corner.exit_m - corner.throttle_m)), i + 1)
        v0 = self._accelerate(p, i, i_sp, v0)
        distance = float(np.clip(v0 * v0 / (2.0 * 8.0), 8.0, 45.0))
        j = min(i_sp + max(self.index(distance), 2), self.n - 1)
        x = self.s[i_sp : j + 1] - self.s[i_sp]
        v = np.sqrt(np.maximum(v0 * v0 * (1.0 - x / float(x[-1])), 0.0))
        p.v[i_sp : j + 1] = v
        p.throttle[i_sp : j + 1] = 0.0
        p.brake[i_sp : j + 1] = 0.6
        p.yaw_extra[i_sp : j + 1] = sign * 2.4
        p.steer_extra[i_sp : j + 1] = -sign * 2.0
        p.clutch[j] = 1.0
        p.surface[i_sp : min(j + self.index(25.0), self.n) + 1] = TrackSurface.OFF_TRACK
        p.dwells.append((j, 3.5, "spin"))
        p.incidents.append((i_sp, 2))
        return j, 0.0

    def _pit_in(self, p: _Profile, i: int, v0: float, stop_s: float) -> None:
        """From the last corner: pit entry, limiter, the stop in the stall, and away to the line."""
        entry = self.i_pit_entry
        x = self.s[i : entry + 1]
        v_acc = self.curve.speed_after(v0, x - self.s[i])
        need_m = (v_acc**2 - self.v_pit**2) / (2.0 * 8.0 * 0.88)
        late = np.nonzero(need_m >= self.s[entry] - x)[0]
        i_brake = i + int(late[0]) if len(late) else entry
        v0 = self._accelerate(p, i, i_brake, v0)
        self._brake(p, i_brake, entry, v0, self.v_pit)
        stop_m = self.v_pit**2 / (2.0 * 5.0 * 0.88)
        i_stop_brake = max(self.i_stall - self.index(stop_m), entry + 1)
        self._hold(p, entry, i_stop_brake, self.v_pit, throttle=0.55)
        self._brake(p, i_stop_brake, self.i_stall, self.v_pit, 0.0)
        p.v[self.i_stall] = 0.0
        p.dwells.append((self.i_stall, stop_s, "pit"))
        x = self.s[self.i_stall :] - self.s[self.i_stall]
        p.v[self.i_stall :] = np.minimum(np.sqrt(2.0 * 4.0 * x), self.v_pit)
        p.throttle[self.i_stall :] = 0.55
        p.brake[self.i_stall :] = 0.0
        p.clutch[self.i_stall :] = np.clip(1.0 - x / 6.0, 0.0, 1.0)
        p.surface[self.i_pit_lane : entry] = TrackSurface.APPROACHING_PITS
        p.pit_road[entry:] = True
        p.limiter[entry:] = True
        p.surface[max(self.i_stall - self.index(5.0), 0) : self.i_stall + self.index(3.0) + 1] = (
            TrackSurface.IN_PIT_STALL
        )

    def _pit_out(self, p: _Profile, v0: float) -> tuple[int, float]:
        """From the line under the limiter to the pit exit."""
        j = self.i_pit_exit
        x = self.s[: j + 1]
        p.v[: j + 1] = np.minimum(np.sqrt(v0 * v0 + 2.0 * 4.0 * x), self.v_pit)
        p.throttle[: j + 1] = 0.55
        p.pit_road[:j] = True
        p.limiter[:j] = True
        return j, float(p.v[j])

    def build(self, plan: _LapPlan, v_start: float) -> _Profile:
        p = _Profile.blank(self.n + 1)
        i, v = 0, v_start
        if plan.pit_out:
            i, v = self._pit_out(p, v)
        for corner, cp in zip(self.track.corners, plan.corners, strict=True):
            # After a spin or an off-track the car may reach a braking zone late: never go back.
            i_end = max(self.index(corner.brake_end_m), i + 1)
            i_brake = min(max(self.index(cp.brake_m), i), i_end - 1)
            i_throttle = max(self.index(corner.throttle_m), i_end)
            v = self._accelerate(p, i, i_brake, v)
            # Braking early, a driver brakes as hard as usual and reaches the corner speed too soon,
            # then rolls to the corner at that speed: an early brake point costs time, as it does
            # in a real car (a late one costs apex speed, see OVERSHOOT_SPEED_LOSS_PER_M).
            i_reference = self.index(corner.brake_m - OVERSHOOT_FREE_M)
            i_stop = i_end if i_brake >= i_reference else max(i_end - (i_reference - i_brake), i_brake + 1)
            v = self._brake(p, i_brake, i_stop, v, cp.min_speed_mps, cp.lockup)
            self._hold(p, i_stop, i_end, v, throttle=0.25)
            self._hold(p, i_end, i_throttle, v)
            i = i_throttle
            if cp.event == _OFF_TRACK:
                i, v = self._off_track(p, i, v, corner)
            elif cp.event == _SPIN:
                i, v = self._spin(p, i, v, corner, cp.spin_sign)
        if plan.pit_in:
            self._pit_in(p, i, v, plan.stop_s)
        else:
            self._accelerate(p, i, self.n, v)
        for index, _, _ in p.dwells:
            p.throttle[index] = 0.0
            p.brake[index] = 0.4
            p.clutch[index] = 1.0
        return p

    def coast(self, v_start: float) -> _Profile:
        """After the checkered flag: lift and roll down to a cruising speed."""
        p = _Profile.blank(self.n + 1)
        p.v[:] = np.sqrt(np.maximum(v_start * v_start - 2.0 * 2.5 * self.s, 15.0**2))
        p.throttle[:] = 0.05
        return p

    def timeline(self, p: _Profile) -> _Timeline:
        """Attach time: constant acceleration between grid points, stops inserted as repeated points."""
        v_sum = np.maximum(p.v[:-1] + p.v[1:], 0.05)
        t = np.concatenate(([0.0], np.cumsum(2.0 * self.ds / v_sum)))
        src = np.arange(self.n + 1)
        dwells = sorted(p.dwells)
        dwell_times: list[tuple[float, float, str]] = []
        if dwells:
            positions = [index + 1 for index, _, _ in dwells]
            shifted = t.copy()
            for index, duration, _ in dwells:
                shifted[index + 1 :] += duration
            duplicates = [shifted[index] + duration for index, duration, _ in dwells]
            dwell_times = [(float(shifted[index]), duration, kind) for index, duration, kind in dwells]
            t = np.insert(shifted, positions, duplicates)
            src = np.insert(src, positions, [index for index, _, _ in dwells])
        s = self.s[src]
        v = p.v[src]
        ds = np.diff(s)
        accel = np.where(ds > 0, np.diff(v * v) / (2.0 * np.where(ds > 0, ds, 1.0)), 0.0)
        time_at = t[np.searchsorted(src, np.arange(self.n + 1))]  # first occurrence of each grid point
        incidents = tuple((float(time_at[index]), points) for index, points in p.incidents)
        return _Timeline(
            t=t,
            s=s,
            v=v,
            accel=accel,
            throttle=p.throttle[src],
            brake=p.brake[src],
            clutch=p.clutch[src],
            yaw_extra=p.yaw_extra[src],
            steer_extra=p.steer_extra[src],
            limiter=p.limiter[src],
            pit_road=p.pit_road[src],
            lockup=p.lockup[src],
            surface=p.surface[src],
            dwells=tuple(dwell_times),
            incidents=incidents,
        )

    def nominal_plan(self, lap: int = 1, pit_in: bool = False, pit_out: bool = False, stop_s: float = 0.0) -> _LapPlan:
        corners = tuple(_CornerPlan(c.brake_m, c.min_speed_mps) for c in self.track.corners)
        return _LapPlan(lap, corners, pit_in=pit_in, pit_out=pit_out, stop_s=stop_s)

    def flying_start_speed(self) -> float:
        """Speed at the line on a flying lap (depends only on the last corner)."""
        plan = self.nominal_plan()
        first = self.build(plan, 60.0)
        return float(first.v[-1])

    def fuel_l(self, timeline: _Timeline) -> float:
        """Fuel the car burns over a timeline (same model as the frames)."""
        mid_thr = 0.5 * (timeline.throttle[1:] + timeline.throttle[:-1])
        mid_v = 0.5 * (timeline.v[1:] + timeline.v[:-1])
        rpm = self.rpm(mid_v, timeline.limiter[1:], 0.5 * (timeline.clutch[1:] + timeline.clutch[:-1]), mid_thr)[1]
        burn = self.burn_lps(mid_thr, rpm)
        return float((burn * np.diff(timeline.t)).sum())

    def rpm(
        self, v: FloatArray, limiter: npt.NDArray[np.bool_], clutch: FloatArray, throttle: FloatArray
    ) -> tuple[Array, FloatArray]:
        """Gear and engine speed for each speed (shift points from `CarSpec.shift_rpm`)."""
        ratios = np.asarray(self.car.speed_per_krpm_mps)
        tops = ratios * self.car.shift_rpm / 1000.0
        gear = np.minimum(np.searchsorted(tops, v, side="right") + 1, len(ratios))
        gear = np.where(limiter & (v > 8.0), 2, gear)
        gear = np.where(v < 0.5, 1, gear)
        rpm = np.maximum(v / ratios[gear - 1] * 1000.0, self.car.idle_rpm)
        rpm = np.where(clutch > 0.5, self.car.idle_rpm + 1800.0 * throttle, rpm)
        return gear, np.minimum(rpm, self.car.max_rpm)

    def burn_lps(self, throttle: FloatArray, rpm: FloatArray) -> FloatArray:
        car = self.car
        burn: FloatArray = car.fuel_idle_lps + (car.fuel_full_lps - car.fuel_idle_lps) * throttle * rpm / car.max_rpm
        return burn


# --------------------------------------------------------------------------- the field


_FIRST_NAMES: Final = (
    "Aiden", "Bea", "Carlos", "Dana", "Elio", "Freya", "Goran", "Hana", "Ivo", "Jun", "Kasia", "Liam",
    "Mira", "Niko", "Oona", "Pavel", "Quinn", "Rosa", "Sven", "Tali", "Umar", "Vera", "Wes", "Xena",
    "Yusuf", "Zoe", "Arjun", "Bram", "Cleo", "Dario", "Edda", "Felix", "Greta", "Hugo", "Ines", "Jonas",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Abbott", "Brandt", "Castell", "Dubois", "Eriksen", "Falk", "Greco", "Haddad", "Ivanova", "Janssen",
    "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quiroga", "Rossi", "Sato", "Tanaka",
    "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zeller", "Alves", "Bianchi", "Costa", "Duarte", "Engel",
    "Fontaine", "Garcia", "Holm", "Ito", "Jovanovic",
)  # fmt: skip
_TEAM_WORDS: Final = (
    "Apex", "Redline", "Chicane", "Slipstream", "Kerb", "Paddock", "Torque", "Downforce", "Grid",
    "Pitlane", "Overcut", "Undercut", "Flatout", "Trailbrake", "Hairpin", "Marbles",
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class _Reference:
    """A reference lap as a normalised curve: lap fraction and states against fraction of lap time."""

    u: FloatArray
    frac: FloatArray
    surface: npt.NDArray[np.int8]
    pit_road: npt.NDArray[np.bool_]
    lap_time_s: float

    @classmethod
    def of(cls, timeline: _Timeline, length_m: float) -> _Reference:
        return cls(
            u=timeline.t / timeline.lap_time_s,
            frac=timeline.s / length_m,
            surface=timeline.surface,
            pit_road=timeline.pit_road,
            lap_time_s=timeline.lap_time_s,
        )


_NORMAL_LAP: Final = 0
_IN_LAP: Final = 1
_OUT_LAP: Final = 2


class _Field:
    """Every opponent's laps as a schedule of (start time, lap time, kind); evaluated vectorised."""

    def __init__(
        self,
        rng: np.random.Generator,
        references: tuple[_Reference, _Reference, _Reference],
        car_idx: Array,
        class_id: Array,
        pace: FloatArray,
        line_time_s: FloatArray,
    ) -> None:
        self.rng = rng
        self.references = references
        self.car_idx = car_idx
        self.class_id = class_id
        self.pace = pace
        count = len(car_idx)
        self.starts: list[list[float]] = []
        self.times: list[list[float]] = []
        self.kinds: list[list[int]] = []
        self.next_pit = rng.integers(8, 17, size=count)
        self.pit_interval = rng.integers(14, 23, size=count)
        normal = references[_NORMAL_LAP].lap_time_s
        for c in range(count):
            lap0 = normal * pace[c]
            self.starts.append([float(line_time_s[c]) - lap0, float(line_time_s[c])])
            self.times.append([lap0])
            self.kinds.append([_NORMAL_LAP])
        self._arrays: list[tuple[FloatArray, FloatArray, Array, FloatArray, FloatArray, FloatArray]] = []
        self._dirty = True

    def ensure(self, until_s: float) -> None:
        """Schedule laps so that every car's schedule covers `until_s`."""
        normal = self.references[_NORMAL_LAP].lap_time_s
        for c in range(len(self.car_idx)):
            starts, times, kinds = self.starts[c], self.times[c], self.kinds[c]
            while starts[-1] <= until_s + normal:
                lap = len(times)
                if kinds[-1] == _IN_LAP:
                    kind = _OUT_LAP
                elif lap == self.next_pit[c]:
                    kind = _IN_LAP
                    self.next_pit[c] += self.pit_interval[c]
                else:
                    kind = _NORMAL_LAP
                lap_time = self.references[kind].lap_time_s * self.pace[c] * (1.0 + self.rng.normal(0.0, 0.002))
                if self.rng.random() < 0.04:
                    lap_time += self.rng.uniform(1.0, 4.0)  # a mistake
                times.append(lap_time)
                kinds.append(kind)
                starts.append(starts[-1] + lap_time)
                self._dirty = True

    def _schedule(self) -> list[tuple[FloatArray, FloatArray, Array, FloatArray, FloatArray, FloatArray]]:
        if self._dirty:
            self._arrays = []
            for starts, times, kinds in zip(self.starts, self.times, self.kinds, strict=True):
                start = np.asarray(starts[: len(times)])
                lap_time = np.asarray(times)
                visible = np.asarray(starts[1:]) + LAST_LAP_DELAY_S
                last = lap_time.copy()
                last[0] = np.nan  # lap 0 is the run to the line before the start, not a lap
                best = np.fmin.accumulate(last)
                self._arrays.append((start, lap_time, np.asarray(kinds), visible, last, best))
            self._dirty = False
        return self._arrays

    def state(self, times_s: FloatArray) -> dict[str, Array]:
        """Per-car state at each time: (n, cars) arrays."""
        n, count = len(times_s), len(self.car_idx)
        lap = np.empty((n, count), dtype=np.int32)
        u = np.empty((n, count))
        kind = np.empty((n, count), dtype=np.int64)
        last = np.empty((n, count), dtype=np.float32)
        best = np.empty((n, count), dtype=np.float32)
        for c, (start, lap_time, kinds, visible, last_c, best_c) in enumerate(self._schedule()):
            j = np.clip(np.searchsorted(start, times_s, side="right") - 1, 0, len(start) - 1)
            lap[:, c] = j
            u[:, c] = np.clip((times_s - start[j]) / lap_time[j], 0.0, 1.0)
            kind[:, c] = kinds[j]
            q = np.searchsorted(visible, times_s, side="right")
            shown = np.maximum(q - 1, 0)
            last[:, c] = np.where(q > 0, last_c[shown], np.nan)
            best[:, c] = np.where(q > 0, best_c[shown], np.nan)
        frac = np.empty((n, count))
        surface = np.empty((n, count), dtype=np.int8)
        pit_road = np.empty((n, count), dtype=bool)
        for k, ref in enumerate(self.references):
            mask = kind == k
            if not mask.any():
                continue
            uk = u[mask]
            frac[mask] = np.interp(uk, ref.u, ref.frac)
            at = np.clip(np.searchsorted(ref.u, uk, side="right") - 1, 0, len(ref.u) - 1)
            surface[mask] = ref.surface[at]
            pit_road[mask] = ref.pit_road[at]
        wrapped = frac >= 1.0
        frac[wrapped] -= 1.0
        lap[wrapped] += 1
        return {
            "lap": lap,
            "frac": frac,
            "surface": surface,
            "pit_road": pit_road,
            "last": last,
            "best": best,
        }


# --------------------------------------------------------------------------- the sim


@dataclass(slots=True)
class _Chunk:
    frames: Array
    cars: dict[str, Array]  # CAR_DTYPE field -> (n, car_count)


@dataclass(slots=True)
class _TyreState:
    surface_c: FloatArray
    carcass_c: FloatArray
    wear: FloatArray

    @classmethod
    def fresh(cls, temp_c: float) -> _TyreState:
        return cls(np.full(4, temp_c), np.full(4, temp_c), np.ones(4))


class DemoSim:
    """A deterministic race at PitBox Park: the player plus `opponents` cars in two classes.

    `step()` returns the next tick, `generate_block(n)` the next n ticks at once; both advance the
    same session and release the same events (`drain_events()`): a `SessionChanged` first, then a
    `SessionChanged` and a `DriverSwap` at each driver swap. The session ends `COOLDOWN_S` after
    the player completes `laps` laps (never when `laps` is None); then `finished` is True.

    Options: `seed` (everything follows from it), `laps` (session length; None: open-ended),
    `opponents` (0..62, 60 % GT3 like the player, the rest GT4), `pit_every_laps` (the player's
    in-laps; None: stop only when the fuel needs it), `team_drivers` (two or more make a team
    session with a driver swap at every stop), `brake_offsets_m` (see below), `variance` (jitter,
    incidents and yellows; `DemoVariance.calm()` keeps only the jitter), `track_file` and `car`.

    `brake_offsets_m` moves the player's brake point by a known number of metres (positive =
    later) on given laps and corners: a mapping {(lap, corner_id): metres} or a function
    (lap, corner_id) -> metres. Corner ids are those of the track file (`sim.track.corner_ids`:
    "T1".."T10"); laps count as the `lap` channel does (the first lap is 1). The offset comes on
    top of the driver's usual jitter; `planned_brake_points_m(lap)` tells where the brake pedal
    went down on a generated lap.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        laps: int | None = None,
        opponents: int = 19,
        pit_every_laps: int | None = None,
        team_drivers: Sequence[str] = ("Alex Demo",),
        brake_offsets_m: BrakeOffsets | None = None,
        variance: DemoVariance | None = None,
        track_file: Path | str | None = None,
        car: CarSpec | None = None,
    ) -> None:
        if laps is not None and laps < 1:
            raise ValueError("laps must be at least 1 (or None for an open session)")
        if not 0 <= opponents <= MAX_CARS - 2:
            raise ValueError(f"opponents must be 0..{MAX_CARS - 2}")
        if pit_every_laps is not None and pit_every_laps < 1:
            raise ValueError("pit_every_laps must be at least 1 (or None: stop only for fuel)")
        if not team_drivers or any(not name for name in team_drivers):
            raise ValueError("team_drivers needs at least one driver name")
        self.seed = seed
        self.laps = laps
        self.pit_every_laps = pit_every_laps
        self.team_drivers = tuple(team_drivers)
        self.variance = variance if variance is not None else DemoVariance()
        self.car = car if car is not None else CarSpec()
        self.track = load_track(track_file)
        self._offsets = brake_offsets_m
        streams = np.random.SeedSequence(seed).spawn(5)
        self._rng_plan = np.random.default_rng(streams[0])
        self._rng_field = np.random.default_rng(streams[1])
        self._rng_yellow = np.random.default_rng(streams[2])
        self._rng_noise = np.random.default_rng(streams[3])
        rng_names = np.random.default_rng(streams[4])

        self._builder = _LapBuilder(self.track, self.car)
        b = self._builder
        self._v_flying = b.flying_start_speed()
        reference = b.timeline(b.build(b.nominal_plan(), self._v_flying))
        in_lap = b.timeline(b.build(b.nominal_plan(pit_in=True, stop_s=OPPONENT_STOP_S), self._v_flying))
        out_lap = b.timeline(b.build(b.nominal_plan(pit_out=True), b.v_pit))
        self.reference_lap_time_s = reference.lap_time_s
        self.fuel_per_lap_l = b.fuel_l(reference)
        self._ref_time_at = (reference.s / self.track.length_m, reference.t)
        # How hard each corner is to stop for: entry speed over corner speed on the reference lap.
        self._stop_severity = {
            c.id: float(np.interp(c.brake_m, reference.s, reference.v)) / c.min_speed_mps for c in self.track.corners
        }
        length = self.track.length_m
        refs = (_Reference.of(reference, length), _Reference.of(in_lap, length), _Reference.of(out_lap, length))

        class_id = self._build_field(opponents, refs)
        self._info = self._initial_session_info(rng_names, class_id)
        self._driver_index = 0
        self._update_count = self._info.update_count

        # Player state carried from lap to lap.
        self._lap = 1
        self._lap_start_s = 0.0
        self._v_start = self._v_flying
        self._in_pit_at_start = False
        self._next_tick = 0
        if pit_every_laps is not None:
            fuel = self.fuel_per_lap_l * (pit_every_laps + 1.0)
        elif laps is not None:
            fuel = self.fuel_per_lap_l * (laps + 1.0)
        else:
            fuel = self.car.tank_l
        self._fuel_l = min(fuel, self.car.tank_l)
        self._tyres = _TyreState(np.full(4, 70.0), np.full(4, 64.0), np.ones(4))
        self._incidents = 0
        self._lap_visible_s: list[float] = []
        self._lap_times_s: list[float] = []
        self._best_s: list[float] = []
        self._yellows: list[tuple[float, float, int]] = []
        self._next_yellow_s = self._draw_yellow_gap()
        self._plans: dict[int, _LapPlan] = {}
        self._generation_done = False

        # Released state: ticks generated but not handed out, and events waiting for their tick.
        self._chunks: deque[_Chunk] = deque()
        self._pos = 0
        self._pending: deque[tuple[int, AdapterEvent]] = deque()
        self._events: list[AdapterEvent] = [SessionChanged(self._info)]
        self._released_info = self._info
        self._finished = False

    # ---------------------------------------------------------------- public

    @property
    def session_info(self) -> SessionInfo:
        """Session info as of the last tick handed out."""
        return self._released_info

    @property
    def finished(self) -> bool:
        """True once every tick of the session has been handed out."""
        if self._finished:
            return True
        self._fill(1)
        self._finished = not self._chunks
        return self._finished

    @property
    def next_session_time_s(self) -> float | None:
        """Session time of the next tick, or None when the session is over."""
        self._fill(1)
        if not self._chunks:
            return None
        value: float = self._chunks[0].frames["session_time_s"][self._pos].item()
        return value

    def planned_brake_points_m(self, lap: int) -> dict[str, float]:
        """Where the player brakes (brake pedal onset, lap distance m) for each corner on a generated lap."""
        plan = self._plans.get(lap)
        if plan is None:
            raise KeyError(f"lap {lap} has not been generated yet")
        return {c.id: cp.brake_m for c, cp in zip(self.track.corners, plan.corners, strict=True)}

    def drain_events(self) -> list[AdapterEvent]:
        """Events released since the last call, oldest first."""
        drained, self._events = self._events, []
        return drained

    def step(self) -> TelemetryFrame:
        """The next tick (with per-car data). Raises `SessionEndedError` after the session's last tick."""
        self._fill(1)
        if not self._chunks:
            self._finished = True
            raise SessionEndedError("the demo session is over")
        chunk = self._chunks[0]
        p = self._pos
        record = chunk.frames[p : p + 1].reshape(())
        cars = self._cars_array(chunk, p, p + 1)[0]
        self._advance(1)
        return TelemetryFrame(record, cars)

    def generate_block(self, count: int, *, cars: bool = True) -> FrameBlock:
        """The next `count` ticks as one block (fewer when the session ends first; possibly none).

        `cars=False` leaves out the per-car arrays ((count, MAX_CARS) records: ~2 KB a tick).
        """
        if count < 0:
            raise ValueError("count must not be negative")
        self._fill(count)
        frames: list[Array] = []
        car_parts: list[Array] = []
        remaining = count
        while remaining > 0 and self._chunks:
            chunk = self._chunks[0]
            take = min(remaining, len(chunk.frames) - self._pos)
            frames.append(chunk.frames[self._pos : self._pos + take])
            if cars:
                car_parts.append(self._cars_array(chunk, self._pos, self._pos + take))
            self._advance(take)
            remaining -= take
        if not frames:
            return FrameBlock(empty_frames(0), empty_cars(0) if cars else None)
        block_frames = np.concatenate(frames)
        block_cars = np.concatenate(car_parts) if cars else None
        return FrameBlock(block_frames, block_cars)

    # ---------------------------------------------------------------- releasing

    def _advance(self, count: int) -> None:
        chunk = self._chunks[0]
        self._pos += count
        last_tick = int(chunk.frames["tick"][self._pos - 1])
        while self._pending and self._pending[0][0] <= last_tick:
            _, event = self._pending.popleft()
            if isinstance(event, SessionChanged):
                self._released_info = event.info
            self._events.append(event)
        if self._pos >= len(chunk.frames):
            self._chunks.popleft()
            self._pos = 0

    def _fill(self, count: int) -> None:
        available = sum(len(c.frames) for c in self._chunks) - self._pos
        while available < count and not self._generation_done:
            chunk = self._generate_lap()
            if chunk is not None and len(chunk.frames):
                self._chunks.append(chunk)
                available += len(chunk.frames)

    def _cars_array(self, chunk: _Chunk, a: int, b: int) -> Array:
        out = empty_cars(b - a)
        out["lap_dist_frac"] = -1.0
        out["position"] = 0
        out["class_position"] = 0
        for name, values in chunk.cars.items():
            out[name][:, : self._car_count] = values[a:b]
        return out

    def _build_field(self, opponents: int, references: tuple[_Reference, _Reference, _Reference]) -> Array:
        """The opponents: GT3 (the player's class) then GT4, paces spread +-1.5 %, a rolling start.

        Returns each opponent's class id. Grid order is random within a class; the player starts
        sixth (or last of GT3 in a small field); each car crosses the line 0.9 s after the one ahead.
        """
        rng = self._rng_field
        gt3 = int(round(opponents * 0.6))
        self._car_count = opponents + 2
        class_id = np.where(np.arange(opponents) < gt3, GT3_CLASS_ID, GT4_CLASS_ID)
        spread = rng.uniform(-0.015, 0.015, size=opponents)
        pace = np.where(class_id == GT3_CLASS_ID, 1.0, GT4_PACE_FACTOR) * (1.0 + spread)
        order = np.concatenate((rng.permutation(gt3), gt3 + rng.permutation(opponents - gt3)))
        player_slot = min(5, gt3)
        slots = np.empty(opponents, dtype=np.int64)
        slots[order] = np.arange(opponents)
        slots = np.where(slots >= player_slot, slots + 1, slots)
        line_time = (slots - player_slot) * 0.9 + np.where(class_id == GT4_CLASS_ID, 2.5, 0.0)
        self._class_id_all = np.concatenate(([0, GT3_CLASS_ID], class_id)).astype(np.int32)
        self._class_factor = np.concatenate(([np.nan, 1.0], np.where(class_id == GT3_CLASS_ID, 1.0, GT4_PACE_FACTOR)))
        self._field = _Field(rng, references, np.arange(2, opponents + 2), class_id, pace, line_time.astype(np.float64))
        return class_id

    # ---------------------------------------------------------------- session info

    def _initial_session_info(self, rng: np.random.Generator, class_id: Array) -> SessionInfo:
        firsts = rng.permutation(len(_FIRST_NAMES))
        lasts = rng.permutation(len(_LAST_NAMES))
        teams = rng.permutation(len(_TEAM_WORDS))
        numbers = rng.permutation(np.arange(2, 100))
        drivers = [
            DriverEntry(
                car_idx=PACE_CAR_IDX, driver_name="Pace Car", driver_id=0, car_number="0",
                car_name="Safety Car", car_path="safety_car", class_id=0, class_name="Pace Car",
                is_pace_car=True,
            ),
            self._player_entry(0),
        ]  # fmt: skip
        for i, cls in enumerate(class_id):
            gt3 = cls == GT3_CLASS_ID
            first = _FIRST_NAMES[firsts[i % len(firsts)]]
            last = _LAST_NAMES[lasts[i % len(lasts)]]
            team = f"{_TEAM_WORDS[teams[i % len(teams)]]} {'Racing' if i % 2 else 'Motorsport'}"
            drivers.append(
                DriverEntry(
                    car_idx=i + 2,
                    driver_name=f"{first} {last}",
                    driver_id=200_001 + i,
                    car_number=str(int(numbers[i % len(numbers)])),
                    car_name="PitBox GT3" if gt3 else "PitBox GT4",
                    car_path="pitbox_gt3" if gt3 else "pitbox_gt4",
                    class_id=int(cls),
                    class_name="GT3" if gt3 else "GT4",
                    team_id=1_000 + i,
                    team_name=team,
                    is_ai=True,
                    irating=int(rng.integers(1200, 4200)),
                )
            )
        return SessionInfo(
            sim="demo",
            track=self.track.track_info(),
            session_type=SessionType.RACE,
            session_name="RACE",
            player_car_idx=PLAYER_CAR_IDX,
            drivers=tuple(drivers),
            laps=self.laps,
            time_limit_s=None,
            team_racing=len(self.team_drivers) > 1,
            update_count=1,
            max_fuel_l=self.car.tank_l,
            extra={"seed": self.seed, "reference_lap_time_s": round(self.reference_lap_time_s, 3)},
        )

    def _player_entry(self, driver_index: int) -> DriverEntry:
        return DriverEntry(
            car_idx=PLAYER_CAR_IDX,
            driver_name=self.team_drivers[driver_index],
            driver_id=100_001 + driver_index,
            car_number="7",
            car_name=self.car.name,
            car_path=self.car.path,
            class_id=GT3_CLASS_ID,
            class_name="GT3",
            team_id=1,
            team_name="PitBox Racing",
            irating=2500,
        )

    def _schedule_swap(self, tick: int, at_s: float) -> None:
        previous = self._info.player
        self._driver_index = (self._driver_index + 1) % len(self.team_drivers)
        current = self._player_entry(self._driver_index)
        self._update_count += 1
        drivers = tuple(current if d.car_idx == PLAYER_CAR_IDX else d for d in self._info.drivers)
        self._info = replace(self._info, drivers=drivers, update_count=self._update_count)
        self._pending.append((tick, SessionChanged(self._info)))
        self._pending.append((tick, DriverSwap(PLAYER_CAR_IDX, previous, current, at_s)))

    # ---------------------------------------------------------------- planning

    def _offset_m(self, lap: int, corner_id: str) -> float:
        if self._offsets is None:
            return 0.0
        if isinstance(self._offsets, Mapping):
            return float(self._offsets.get((lap, corner_id), 0.0))
        return float(self._offsets(lap, corner_id))

    def _plan(self, lap: int) -> _LapPlan:
        var = self.variance
        rng = self._rng_plan
        corners: list[_CornerPlan] = []
        for c in self.track.corners:
            jitter = rng.normal(0.0, 1.0)
            speed_jitter = rng.normal(0.0, 1.0)
            roll = rng.random(4)
            event = _NO_EVENT
            if roll[1] < var.spin_prob:
                event = _SPIN
            elif roll[2] < var.off_track_prob:
                event = _OFF_TRACK
            brake_m = c.brake_m + var.brake_jitter_sd_m * jitter + self._offset_m(lap, c.id)
            # Braking much later than the reference point overshoots the corner: the car runs wide
            # and the apex speed drops, so a late brake point costs time as it does in a real car.
            overshoot_m = max(brake_m - c.brake_m - OVERSHOOT_FREE_M, 0.0)
            corners.append(
                _CornerPlan(
                    brake_m=brake_m,
                    min_speed_mps=c.min_speed_mps
                    * (1.0 + var.min_speed_jitter_frac * speed_jitter)
                    * max(1.0 - OVERSHOOT_SPEED_LOSS_PER_M * self._stop_severity[c.id] * overshoot_m, 0.6),
                    lockup=bool(roll[0] < var.lockup_prob),
                    event=event,
                    spin_sign=1.0 if roll[3] < 0.5 else -1.0,
                )
            )
        pit_in = self._wants_pit(lap)
        refuel = 0.0
        stop_s = 0.0
        swap = False
        if pit_in:
            remaining = None if self.laps is None else self.laps - lap
            stint = self.pit_every_laps if self.pit_every_laps is not None else None
            if stint is None:
                stint = remaining if remaining is not None else 10_000
            elif remaining is not None:
                stint = min(stint, remaining)
            target = min(self.car.tank_l, self.fuel_per_lap_l * (stint + 1.0))
            refuel = max(target - (self._fuel_l - self.fuel_per_lap_l), 0.0)
            swap = len(self.team_drivers) > 1
            stop_s = max(2.0 + refuel / REFUEL_LPS, TYRE_CHANGE_S, DRIVER_SWAP_S if swap else 0.0)
        return _LapPlan(
            lap=lap,
            corners=tuple(corners),
            pit_in=pit_in,
            pit_out=self._in_pit_at_start,
            stop_s=stop_s,
            refuel_l=refuel,
            swap=swap,
        )

    def _wants_pit(self, lap: int) -> bool:
        if self.laps is not None and lap >= self.laps:
            return False
        if self.pit_every_laps is not None and lap % self.pit_every_laps == 0:
            return True
        remaining = math.inf if self.laps is None else self.laps - lap + 1
        needed = remaining * self.fuel_per_lap_l
        return self._fuel_l < needed and self._fuel_l < 2.2 * self.fuel_per_lap_l

    def _draw_yellow_gap(self) -> float:
        mean = self.variance.yellow_mean_interval_s
        if mean is None:
            return math.inf
        return float(self._rng_yellow.exponential(mean)) + 20.0

    def _ensure_yellows(self, until_s: float) -> None:
        sectors = len(self.track.sector_starts_frac)
        while self._next_yellow_s < until_s:
            duration = float(self._rng_yellow.uniform(15.0, 45.0))
            sector = int(self._rng_yellow.integers(sectors))
            self._yellows.append((self._next_yellow_s, self._next_yellow_s + duration, sector))
            self._next_yellow_s += self._draw_yellow_gap()

    # ---------------------------------------------------------------- generation

    def _generate_lap(self) -> _Chunk | None:
        b = self._builder
        lap = self._lap
        finished = self.laps is not None and lap > self.laps
        if finished:
            profile = b.coast(self._v_start)
            plan = None
        else:
            plan = self._plan(lap)
            self._plans[lap] = plan
            profile = b.build(plan, self._v_start)
        timeline = b.timeline(profile)
        t0 = self._lap_start_s
        t_stop = t0 + (COOLDOWN_S if finished else timeline.lap_time_s)
        k0 = self._next_tick
        k1 = max(int(math.ceil(t_stop * TICK_RATE_HZ - 1e-9)), k0)
        ticks = np.arange(k0, k1)
        times = ticks / TICK_RATE_HZ

        if plan is not None and plan.swap:
            pit = [d for d in timeline.dwells if d[2] == "pit"]
            if pit:
                at_s = t0 + pit[0][0] + 3.0
                self._schedule_swap(int(math.ceil(at_s * TICK_RATE_HZ - 1e-9)), at_s)
        for at, _, kind in timeline.dwells:
            if kind == "spin":  # a car stopped off the track: local yellow in that sector
                frac = np.interp([at], timeline.t, timeline.s) / self.track.length_m
                self._yellows.append((t0 + at, t0 + at + 25.0, int(self.track.sector_of(frac)[0])))
        self._yellows = [y for y in self._yellows if y[1] >= t0]
        self._ensure_yellows(t_stop)
        self._field.ensure(t_stop)

        frames = self._render(timeline, plan, lap, t0, ticks, times, finished)
        chunk = _Chunk(frames[0], frames[1])

        if finished:
            self._generation_done = True
            return chunk
        # Carry the player's state to the next lap.
        lap_time = timeline.lap_time_s
        valid = not timeline.incidents
        self._lap_visible_s.append(t0 + lap_time + LAST_LAP_DELAY_S)
        self._lap_times_s.append(lap_time)
        best_before = self._best_s[-1] if self._best_s else math.inf
        self._best_s.append(min(best_before, lap_time) if valid else best_before)
        self._lap_start_s = t0 + lap_time
        self._v_start = float(profile.v[-1])
        self._in_pit_at_start = plan is not None and plan.pit_in
        self._next_tick = k1
        self._lap += 1
        return chunk

    def _render(
        self,
        tl: _Timeline,
        plan: _LapPlan | None,
        lap: int,
        t0: float,
        ticks: Array,
        times: FloatArray,
        finished: bool,
    ) -> tuple[Array, dict[str, Array]]:
        """The frames of one lap (or of the cool-down) and the per-car arrays of the same ticks."""
        length = self.track.length_m
        n = len(ticks)
        tau = times - t0
        at = _Samples.of(tl, tau, length)
        motion = self._motion(at)
        fuel, burn, tyre_change = self._fuel(at, motion[1], tl, plan, tau)
        track_temp = 31.0 + 2.5 * np.sin(2.0 * np.pi * times / 5400.0)
        air_temp = 21.0 + 1.0 * np.sin(2.0 * np.pi * times / 5400.0 + 0.5)
        tyres = self._tyres_for(at.v, motion[3], motion[2], track_temp, at.lockup, at.surface, tyre_change)
        last, best, incidents = self._timing(tl, times, tau)
        state = self._field.state(times)
        standings = self._standings(state, lap, at.s / length)
        spotter = self._spotter(state, at, standings[0])

        f = empty_frames(n)
        f["session_time_s"] = times
        f["tick"] = ticks
        f["in_world"] = True
        f["is_on_track"] = True
        f["lap"] = lap
        f["lap_completed"] = lap - 1
        f["lap_dist_m"] = at.s
        f["lap_dist_frac"] = at.s / length
        f["speed_mps"] = at.v
        f["gear"], f["rpm"], f["long_accel_mps2"], f["lat_accel_mps2"] = motion[:4]
        f["yaw_rate_radps"], f["steering_angle_rad"] = motion[4:]
        f["throttle"] = np.clip(at.throttle, 0.0, 1.0)
        f["brake"] = np.clip(at.brake, 0.0, 1.0)
        f["clutch"] = np.clip(at.clutch, 0.0, 1.0)
        outline, outline_m = self.track.outline, self._builder.outline_m
        f["latitude_deg"] = np.interp(at.s, outline_m, outline.closed(outline.latitude_deg))
        f["longitude_deg"] = np.interp(at.s, outline_m, outline.closed(outline.longitude_deg))
        f["altitude_m"] = np.interp(at.s, outline_m, outline.closed(outline.altitude_m))
        f["fuel_level_l"] = fuel
        f["fuel_use_rate_lps"] = burn
        f["on_pit_road"] = at.pit_road
        f["pit_limiter"] = at.limiter
        f["track_surface"] = at.surface
        f["session_flags"] = self._flags(lap, at.s / length, times, finished)
        f["session_state"] = 5 if finished else 4
        f["session_time_remain_s"] = np.nan
        f["session_laps_remain"] = -1 if self.laps is None else max(self.laps - (lap - 1), 0)
        f["car_left_right"] = spotter
        f["incident_count"] = incidents
        f["position"] = standings[1][:, PLAYER_CAR_IDX]
        f["class_position"] = standings[2][:, PLAYER_CAR_IDX]
        f["last_lap_time_s"] = last
        f["best_lap_time_s"] = best
        f["current_lap_time_s"] = tau
        f["tyre_temp_c"], f["tyre_carcass_temp_c"], f["tyre_pressure_kpa"], f["tyre_wear_frac"] = tyres
        f["track_temp_c"] = track_temp
        f["air_temp_c"] = air_temp
        return f, self._car_arrays(state, standings, at, lap, last, best)

    def _motion(self, at: _Samples) -> tuple[Array, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Gear, rpm, longitudinal and lateral acceleration, yaw rate and steering angle."""
        b = self._builder
        grid = at.s / b.ds
        points = np.arange(b.n + 1)
        curvature = np.interp(grid, points, b.curvature)
        grade = np.interp(grid, points, b.grade)
        noise = self._rng_noise.normal(0.0, 1.0, size=(len(at.s), 4))
        gear, rpm = b.rpm(at.v, at.limiter, at.clutch, at.throttle)
        long_accel = at.accel + GRAVITY_MPS2 * grade + 0.12 * noise[:, 0]
        lat_accel = at.v * at.v * curvature + 0.35 * at.v * at.yaw_extra + 0.15 * noise[:, 1]
        yaw_rate = at.v * curvature + at.yaw_extra + 0.004 * noise[:, 2]
        steering = (
            np.arctan(curvature * self.car.wheelbase_m) * self.car.steering_ratio + at.steer_extra + 0.004 * noise[:, 3]
        )
        return gear, rpm, long_accel, lat_accel, yaw_rate, steering

    def _fuel(
        self, at: _Samples, rpm: FloatArray, tl: _Timeline, plan: _LapPlan | None, tau: FloatArray
    ) -> tuple[FloatArray, FloatArray, int | None]:
        """Fuel level and burn rate (refuelling during a pit stop), and the tick the tyres are changed at."""
        burn = self._builder.burn_lps(at.throttle, rpm)
        fill = np.zeros(len(tau))
        tyre_change: int | None = None
        pit_stops = [d for d in tl.dwells if d[2] == "pit"]
        if pit_stops and plan is not None:
            start, duration, _ = pit_stops[0]
            fill[(tau >= start + 1.0) & (tau < start + 1.0 + plan.refuel_l / REFUEL_LPS)] = REFUEL_LPS
            changing = np.nonzero(tau >= start + min(2.0, duration))[0]
            tyre_change = int(changing[0]) if len(changing) else None
        fuel = np.clip(self._fuel_l - np.cumsum((burn - fill) * DT_S), 0.0, self.car.tank_l)
        if len(fuel):
            self._fuel_l = float(fuel[-1])
        return fuel, burn, tyre_change

    def _timing(self, tl: _Timeline, times: FloatArray, tau: FloatArray) -> tuple[FloatArray, FloatArray, Array]:
        """Last and best lap time as published (LAST_LAP_DELAY_S after the line), and incident points."""
        shown = np.searchsorted(np.asarray(self._lap_visible_s), times, side="right") - 1
        last = np.full(len(times), np.nan)
        best = np.full(len(times), np.nan)
        if self._lap_times_s:
            published = shown >= 0
            last[published] = np.asarray(self._lap_times_s)[shown[published]]
            best[published] = np.asarray(self._best_s)[shown[published]]
            best[~np.isfinite(best)] = np.nan  # only laps with incidents so far
        incident_times = np.asarray([at for at, _ in tl.incidents])
        points = np.cumsum([0] + [p for _, p in tl.incidents])
        incidents = self._incidents + points[np.searchsorted(incident_times, tau, side="right")]
        self._incidents += int(points[-1])
        return last, best, incidents

    def _standings(self, state: dict[str, Array], lap: int, frac: FloatArray) -> tuple[FloatArray, Array, Array]:
        """Progress (laps + fraction) of every car, and overall and class positions ranked by it."""
        n, count = len(frac), self._car_count
        progress = np.empty((n, count))
        progress[:, PACE_CAR_IDX] = -np.inf
        progress[:, PLAYER_CAR_IDX] = lap - 1 + frac
        progress[:, 2:] = state["lap"] - 1 + state["frac"]
        position = np.zeros((n, count), dtype=np.int16)
        class_position = np.zeros((n, count), dtype=np.int16)
        for out, members in (
            (position, np.arange(1, count)),
            *((class_position, np.nonzero(self._class_id_all == c)[0]) for c in (GT3_CLASS_ID, GT4_CLASS_ID)),
        ):
            if len(members):
                ranked = members[np.argsort(-progress[:, members], axis=1, kind="stable")]
                np.put_along_axis(out, ranked, np.arange(1, len(members) + 1, dtype=np.int16)[None, :], axis=1)
        return progress, position, class_position

    def _spotter(self, state: dict[str, Array], at: _Samples, progress: FloatArray) -> Array:
        """Cars alongside the player, left or right (opponents in the pit lane do not count)."""
        length = self.track.length_m
        gap = (state["frac"] - (at.s / length)[:, None] + 0.5) % 1.0 * length - 0.5 * length
        # A pass at a small closing speed would leave two cars side by side for a minute; the window
        # shrinks with the closing speed so that an overlap lasts a few seconds, as a real pass does.
        closing = np.abs(np.gradient(gap, DT_S, axis=0)) if len(gap) > 1 else np.full_like(gap, 3.0)
        window = ALONGSIDE_M * np.clip(closing / 3.0, 0.15, 1.0)
        alongside = (np.abs(gap) < window) & ~state["pit_road"]
        laps_ahead = np.floor(progress[:, 2:] - progress[:, PLAYER_CAR_IDX, None] + 0.5).astype(np.int64)
        on_left = ((self._field.car_idx[None, :] + laps_ahead) % 2) == 0  # a side per car and encounter
        left = (alongside & on_left).sum(axis=1)
        right = (alongside & ~on_left).sum(axis=1)
        spotter = np.select(
            [(left >= 1) & (right >= 1), left >= 2, right >= 2, left == 1, right == 1],
            [
                CarLeftRight.CARS_LEFT_RIGHT,
                CarLeftRight.TWO_CARS_LEFT,
                CarLeftRight.TWO_CARS_RIGHT,
                CarLeftRight.CAR_LEFT,
                CarLeftRight.CAR_RIGHT,
            ],
            CarLeftRight.CLEAR,
        )
        in_pits = at.pit_road | (at.surface == TrackSurface.IN_PIT_STALL)
        result: Array = np.where(in_pits, CarLeftRight.OFF, spotter)
        return result

    def _flags(self, lap: int, frac: FloatArray, times: FloatArray, finished: bool) -> Array:
        """Green (white on the final lap, checkered after it), plus local yellows in the player's sector."""
        n = len(times)
        if finished:
            return np.full(n, int(SessionFlag.CHECKERED), dtype=np.uint32)
        flag = SessionFlag.GREEN | (SessionFlag.WHITE if self.laps is not None and lap == self.laps else 0)
        flags = np.full(n, int(flag), dtype=np.uint32)
        sector = self.track.sector_of(frac)
        for start, end, yellow_sector in self._yellows:
            if n == 0 or end < times[0] or start > times[-1]:
                continue
            hit = (times >= start) & (times < end) & (sector == yellow_sector)
            flags[hit] |= np.uint32(SessionFlag.YELLOW | SessionFlag.YELLOW_WAVING)
        return flags

    def _car_arrays(
        self,
        state: dict[str, Array],
        standings: tuple[FloatArray, Array, Array],
        at: _Samples,
        lap: int,
        last: FloatArray,
        best: FloatArray,
    ) -> dict[str, Array]:
        """CAR_DTYPE columns for the cars in the session: (ticks, car count) each."""
        n, count = len(at.s), self._car_count
        player, opponents = PLAYER_CAR_IDX, slice(2, None)

        def column(dtype: Any, pace_car: Any, player_value: Any, opponents_value: Any) -> Array:
            out = np.empty((n, count), dtype=dtype)
            out[:, PACE_CAR_IDX] = pace_car
            out[:, player] = player_value
            out[:, opponents] = opponents_value
            return out

        frac = column(np.float32, -1.0, at.s / self.track.length_m, state["frac"])
        laps = column(np.int32, -1, lap, state["lap"])
        ref_frac, ref_t = self._ref_time_at
        est = (np.interp(frac, ref_frac, ref_t) * self._class_factor[None, :]).astype(np.float32)
        return {
            "lap_dist_frac": frac,
            "lap": laps,
            "lap_completed": np.where(laps >= 0, laps - 1, -1).astype(np.int32),
            "position": standings[1],
            "class_position": standings[2],
            "class_id": np.broadcast_to(self._class_id_all, (n, count)),
            "on_pit_road": column(bool, False, at.pit_road, state["pit_road"]),
            "track_surface": column(np.int8, TrackSurface.NOT_IN_WORLD, at.surface, state["surface"]),
            "last_lap_time_s": column(np.float32, np.nan, last, state["last"]),
            "best_lap_time_s": column(np.float32, np.nan, best, state["best"]),
            "est_time_s": est,
        }

    def _tyres_for(
        self,
        v: FloatArray,
        lat: FloatArray,
        long: FloatArray,
        track_temp: FloatArray,
        lockup: npt.NDArray[np.bool_],
        surface: Array,
        change_at: int | None,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Surface and carcass temperature, pressure and wear of the four tyres over the frames."""
        n = len(v)
        side = np.sign(lat)[:, None] * _TYRE_SIDE[None, :]
        lat_share = np.abs(lat)[:, None] * (0.5 - 0.2 * side)
        braking = np.maximum(-long, 0.0)[:, None] * np.where(_TYRE_FRONT > 0, 0.65, 0.35)[None, :]
        driving = np.maximum(long, 0.0)[:, None] * np.where(_TYRE_FRONT > 0, 0.2, 0.8)[None, :]
        work = lat_share + braking + driving
        target = track_temp[:, None] + 15.0 + 3.0 * work + 0.1 * v[:, None]
        ds = v * DT_S
        wear_step = 2.6e-6 * ds[:, None] * (0.3 + work / 10.0)
        wear_step = wear_step + np.where(lockup, 4e-4, 0.0)[:, None] * _TYRE_FRONT[None, :]
        wear_step = wear_step + np.where(surface == TrackSurface.OFF_TRACK, 3e-5, 0.0)[:, None]
        segments = [(0, n)] if change_at is None else [(0, change_at), (change_at, n)]
        temp = np.empty((n, 4))
        carcass = np.empty((n, 4))
        wear = np.empty((n, 4))
        state = self._tyres
        for index, (a, b) in enumerate(segments):
            if index == 1:
                state = _TyreState.fresh(28.0)
            if b > a:
                temp[a:b] = _lag(target[a:b], state.surface_c, 3.0)
                carcass[a:b] = _lag(temp[a:b], state.carcass_c, 30.0)
                wear[a:b] = np.clip(state.wear - np.cumsum(wear_step[a:b], axis=0), 0.0, 1.0)
                state = _TyreState(temp[b - 1].copy(), carcass[b - 1].copy(), wear[b - 1].copy())
        self._tyres = state
        pressure = 140.0 * (273.15 + carcass) / (273.15 + 20.0)
        return temp, carcass, pressure, wear


# --------------------------------------------------------------------------- the adapter


class DemoAdapter:
    """The demo sim as a `SimAdapter`: frames released as `now_s` advances, times `speed`.

    The first `read` after `connect` pins the session clock to `now_s`; then a tick whose session
    time is at most (now_s - start) * speed is due, and `read` returns due ticks one at a time,
    oldest first. `speed=None` (or infinity) releases a tick on every read. After the checkered
    flag and the cool-down, `read` returns None. Every other option goes to `DemoSim`.
    """

    name = "demo"

    def __init__(self, *, speed: float | None = 1.0, **options: Any) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("speed must be positive (or None / inf: as fast as possible)")
        self.speed = math.inf if speed is None else float(speed)
        self.sim = DemoSim(**options)
        self._tracker = ConnectionTracker()
        self._events: list[AdapterEvent] = []
        self._anchor: tuple[float, float] | None = None
        self._connected_before = False

    @property
    def state(self) -> AdapterState:
        return self._tracker.state

    @property
    def session_info(self) -> SessionInfo | None:
        return self.sim.session_info

    def connect(self, now_s: float) -> bool:
        """Start (or resume) the demo session; always succeeds. The next `read` restarts the pacing clock."""
        if self._tracker.state is not AdapterState.CONNECTED:
            self._tracker.connected(now_s, "demo sim started")
            self._anchor = None
            self._collect()  # the state change, then the sim's first SessionChanged
            if self._connected_before:
                self._events.append(SessionChanged(self.sim.session_info))
            self._connected_before = True
        return True

    def read(self, now_s: float) -> TelemetryFrame | None:
        if self._tracker.state is not AdapterState.CONNECTED:
            self.connect(now_s)
        next_s = self.sim.next_session_time_s
        if next_s is None:
            return None
        if math.isfinite(self.speed):
            if self._anchor is None:
                self._anchor = (now_s, next_s)
            started_now, started_sim = self._anchor
            if started_sim + (now_s - started_now) * self.speed < next_s - 1e-9:
                return None
        frame = self.sim.step()
        self._tracker.tick(now_s)
        self._collect()
        return frame

    def step(self) -> TelemetryFrame:
        """The next tick regardless of the clock (see `DemoSim.step`)."""
        frame = self.sim.step()
        self._collect()
        return frame

    def generate_block(self, count: int, *, cars: bool = True) -> FrameBlock:
        """The next `count` ticks at once regardless of the clock (see `DemoSim.generate_block`)."""
        block = self.sim.generate_block(count, cars=cars)
        self._collect()
        return block

    def drain_events(self) -> list[AdapterEvent]:
        self._collect()
        drained, self._events = self._events, []
        return drained

    def close(self) -> None:
        """Stop the session clock; `connect` resumes the same session where it stopped."""
        if self._tracker.state is not AdapterState.WAITING_FOR_SIM:
            self._tracker.lost(self._tracker.last_tick_at_s or 0.0, "demo sim closed")
        self._anchor = None
        self._collect()

    def _collect(self) -> None:
        self._events.extend(self._tracker.drain())
        self._events.extend(self.sim.drain_events())


def register_adapter() -> None:
    """Make the demo sim available as adapter "demo" (never auto-detected: it is the fallback)."""
    base.register(
        "demo",
        DemoAdapter,
        detect=None,
        description="Built-in demo sim: a deterministic race at PitBox Park (no sim needed)",
    )


# --------------------------------------------------------------------------- the track file

_CIRCUIT: Final = (
    # id, name, direction, turning angle deg, apex m, minimum speed m/s (angles as closed by _close_loop)
    ("T1", "Hairpin", "right", 141.0, 760.0, 19.0),
    ("T2", "Chapel", "left", 75.0, 1090.0, 37.0),
    ("T3", "Esses", "right", 60.0, 1300.0, 33.0),
    ("T4", "Sweeper", "right", 72.0, 1720.0, 50.0),
    ("T5", "Top Bend", "left", 97.5, 2150.0, 28.0),
    ("T6", "Bridge", "right", 68.0, 2480.0, 42.0),
    ("T7", "Carousel", "right", 128.0, 2900.0, 30.0),
    ("T8", "Ridge", "left", 42.5, 3350.0, 55.0),
    ("T9", "Kink", "left", 17.5, 3640.0, 47.0),
    ("T10", "Last Corner", "right", 123.5, 4000.0, 35.0),
)


def _corner_geometry(number: int, spec: tuple[str, str, str, float, float, float]) -> Corner:
    """A corner from its design: the radius follows from the minimum speed and the car's lateral grip."""
    cid, name, direction, angle, apex, v_min = spec
    radius = v_min**2 / _design_lat_grip_mps2(v_min)
    arc = math.radians(angle) * radius
    return Corner(
        id=cid, number=number, name=name, direction=direction, angle_deg=angle, radius_m=radius,
        brake_m=apex - 0.25 * arc - 30.0, turn_in_m=apex - 0.75 * arc, brake_end_m=apex - 0.25 * arc,
        apex_m=apex, throttle_m=apex + 0.25 * arc, exit_m=apex + 0.75 * arc, min_speed_mps=v_min,
    )  # fmt: skip


def design_track(spacing_m: float = 10.0) -> TrackModel:
    """The demo circuit designed from its corner list: geometry, closed outline and reference brake points.

    Corner radii follow from minimum speed and the car's lateral grip; turning angles and apex
    positions are corrected (weighted least squares, mostly by moving apexes a few metres) so that
    the centreline closes; brake points are where the reference car, flat out from the previous
    corner, has to start braking at its nominal deceleration.
    """
    length = 4650.0
    origin = GeoOrigin(latitude_deg=52.0931, longitude_deg=5.3817, altitude_m=12.0)
    corners = _close_loop(_CIRCUIT, length)
    corners = _reference_brake_points(corners, length)
    track = TrackModel(
        name="pitbox_park",
        display_name="PitBox Park",
        config="Grand Prix",
        city="Millbrook Vale",
        country="Demoland",
        length_m=length,
        sector_starts_frac=(0.0, 0.34, 0.69),
        pit_lane=PitLane(entry_frac=0.94, exit_frac=0.05, stall_frac=0.985, speed_limit_mps=80 / 3.6,
                         entry_lane_m=150.0),
        corners=tuple(corners),
        origin=origin,
        outline=build_outline(corners, length, origin, spacing_m),
    )  # fmt: skip
    return track


def _close_loop(design: Sequence[tuple[str, str, str, float, float, float]], length_m: float) -> list[Corner]:
    """Adjust angles and apex positions (smallest weighted change) so the centreline closes in one turn."""
    specs = list(design)

    def build(values: FloatArray) -> list[Corner]:
        count = len(specs)
        return [
            _corner_geometry(i + 1, (cid, name, way, float(values[i]), float(values[count + i]), v_min))
            for i, (cid, name, way, _, _, v_min) in enumerate(specs)
        ]

    values = np.array([s[3] for s in specs] + [s[4] for s in specs], dtype=np.float64)
    scale = np.array([1.0] * len(specs) + [5.0] * len(specs))  # degrees of angle vs metres of apex move
    for _ in range(12):
        residual = np.array(closure_error(build(values), length_m))
        if np.abs(residual[:2]).max() < 0.01 and abs(residual[2]) < 1e-10:
            break
        jacobian = np.empty((3, len(values)))
        for i in range(len(values)):
            bumped = values.copy()
            bumped[i] += 0.01
            jacobian[:, i] = (np.array(closure_error(build(bumped), length_m)) - residual) / 0.01
        z = np.linalg.lstsq(jacobian * scale[None, :], -residual, rcond=None)[0]
        values = values + scale * z
    corners = build(values)
    final = np.array(closure_error(corners, length_m))
    if np.abs(final[:2]).max() > 0.5:
        raise TrackModelError(f"the corner list does not close (misses by {final[:2]} m)")
    return corners


def _reference_brake_points(corners: list[Corner], length_m: float) -> list[Corner]:
    """Brake points of the reference car: where flat-out speed meets the nominal braking need."""
    curve = _AccelCurve(CarSpec())
    result: list[Corner] = []
    for i, c in enumerate(corners):
        before = corners[i - 1]
        start = before.throttle_m - (length_m if i == 0 else 0.0)
        earliest = max(before.exit_m - (length_m if i == 0 else 0.0), start) + 10.0
        candidates = np.arange(earliest, c.brake_end_m - 25.0, 0.1)
        v_b = curve.speed_after(before.min_speed_mps, candidates - start)
        zone = c.brake_end_m - candidates
        need = (v_b**2 - c.min_speed_mps**2) / (2.0 * _braking_shape_integral_m(zone, v_b))
        nominal = np.array([_nominal_decel_mps2(v) for v in v_b])
        late = np.nonzero(need >= nominal)[0]
        if not len(late):
            raise TrackModelError(f"corner {c.id} needs no braking: move it or lower its speed")
        brake_m = float(candidates[late[0]])
        if brake_m < 0:
            raise TrackModelError(f"corner {c.id} would brake before the line")
        result.append(replace(c, brake_m=round(brake_m, 1)))
    return result


def generate_track_file(path: Path | str | None = None) -> TrackModel:
    """(Re)write the demo circuit's track model file (default: `assets/tracks/pitbox_park.json`)."""
    track = design_track()
    text = track_to_json(track)
    target = Path(path) if path is not None else track_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    logger.info("wrote track model %s (%d bytes)", target, len(text))
    return track
