"""The canonical telemetry model every PitBox package shares.

One table, `CHANNELS`, declares every per-tick channel of the player's car (name, SI unit, numpy dtype,
continuous or discrete, precision, description); `CAR_CHANNELS` declares the per-car arrays that
describe every car in the session (opponents and the player alike). Frames are numpy structured
records built from those tables:

* `FrameBlock` holds N ticks as one structured array (plus an optional (N, MAX_CARS) array of
  per-car records) and is what vectorised code (lap splitting, coaching on recorded laps, the relay
  codec) works on.
* `TelemetryFrame` is one tick with typed attribute access (`frame.speed_mps` is a `float`).

Units are SI or SI-derived inside PitBox: metres, seconds, m/s, rad, rad/s, m/s^2, degrees Celsius,
kPa; fuel in litres because every sim and every driver counts it that way. Pedals and fractions are
0..1. A channel a sim does not provide holds its `missing` value (NaN for floats, -1 for counters).

`SessionInfo` describes the session (track, car, drivers, type and length) and is replaced whenever
the sim says it changed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

MAX_CARS: Final = 64
"""Size of the per-car arrays (iRacing's CarIdx arrays hold 64 cars)."""

TYRES: Final = ("lf", "rf", "lr", "rr")
"""Order of the four corners in every per-tyre channel."""


class ChannelKind(enum.Enum):
    """How a channel may be interpolated between samples."""

    CONTINUOUS = "continuous"  # a physical signal: interpolate linearly
    DISCRETE = "discrete"  # a state or counter: hold the previous value


class TrackSurface(enum.IntEnum):
    """Where the player's car is (iRacing's TrkLoc values, which other sims map onto)."""

    NOT_IN_WORLD = -1
    OFF_TRACK = 0
    IN_PIT_STALL = 1
    APPROACHING_PITS = 2
    ON_TRACK = 3


class CarLeftRight(enum.IntEnum):
    """Spotter state: cars alongside the player."""

    OFF = 0
    CLEAR = 1
    CAR_LEFT = 2
    CAR_RIGHT = 3
    CARS_LEFT_RIGHT = 4
    TWO_CARS_LEFT = 5
    TWO_CARS_RIGHT = 6


class SessionFlag(enum.IntFlag):
    """Flags shown to the player (bit layout as iRacing's, a superset of what other sims report)."""

    CHECKERED = 0x0001
    WHITE = 0x0002
    GREEN = 0x0004
    YELLOW = 0x0008
    RED = 0x0010
    BLUE = 0x0020
    DEBRIS = 0x0040
    CROSSED = 0x0080
    YELLOW_WAVING = 0x0100
    ONE_LAP_TO_GREEN = 0x0200
    GREEN_HELD = 0x0400
    TEN_TO_GO = 0x0800
    FIVE_TO_GO = 0x1000
    RANDOM_WAVING = 0x2000
    CAUTION = 0x4000
    CAUTION_WAVING = 0x8000
    BLACK = 0x010000
    DISQUALIFY = 0x020000
    SERVICEABLE = 0x040000
    FURLED = 0x080000
    REPAIR = 0x100000  # the meatball: mandatory repair
    START_HIDDEN = 0x10000000
    START_READY = 0x20000000
    START_SET = 0x40000000
    START_GO = 0x80000000


CAUTION_FLAGS: Final = SessionFlag.YELLOW | SessionFlag.YELLOW_WAVING | SessionFlag.CAUTION | SessionFlag.CAUTION_WAVING
"""Flags under which the field is not racing flat out (local yellow or full-course caution)."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One telemetry channel: what it is, in which unit, stored how, and how precise it needs to be.

    `precision` is the quantum below which differences do not matter (used by codecs that quantise);
    `shape` is () for a scalar and (4,) for per-tyre channels.
    """

    name: str
    unit: str
    dtype: str
    kind: ChannelKind
    precision: float
    description: str
    shape: tuple[int, ...] = ()

    @property
    def missing(self) -> float | int | bool:
        """The value stored when the sim does not provide this channel."""
        kind = np.dtype(self.dtype).kind
        if kind == "f":
            return float("nan")
        if kind == "b":
            return False
        if kind == "u":
            return 0
        return -1


_C = ChannelKind.CONTINUOUS
_D = ChannelKind.DISCRETE

CHANNELS: Final[tuple[Channel, ...]] = (
    Channel("session_time_s", "s", "f8", _C, 1e-3, "Seconds since the session started (the sim's clock)."),
    Channel("tick", "1", "i4", _D, 1, "The sim's tick counter; gaps mean ticks the reader missed."),
    Channel(
        "in_world", "bool", "?", _D, 1, "False for frames where the car is not in the world (menus, resets, glitches)."
    ),
    Channel("is_on_track", "bool", "?", _D, 1, "The player is in the car with physics running."),
    Channel("lap", "1", "i4", _D, 1, "Lap counter as the sim counts it: the lap being driven."),
    Channel("lap_completed", "1", "i4", _D, 1, "Laps completed, where the sim reports it (-1 if not)."),
    Channel("lap_dist_m", "m", "f4", _C, 0.01, "Distance travelled from the start/finish line on this lap."),
    Channel("lap_dist_frac", "1", "f4", _C, 1e-6, "Fraction of the lap travelled, 0 at the line to 1."),
    Channel("speed_mps", "m/s", "f4", _C, 0.01, "Speed of the car over ground."),
    Channel("rpm", "rev/min", "f4", _C, 1.0, "Engine speed."),
    Channel("gear", "1", "i2", _D, 1, "-1 reverse, 0 neutral, 1..n forward gears."),
    Channel("throttle", "1", "f4", _C, 1e-3, "Throttle pedal, 0 released to 1 fully pressed."),
    Channel("brake", "1", "f4", _C, 1e-3, "Brake pedal, 0 released to 1 full force."),
    Channel("clutch", "1", "f4", _C, 1e-3, "Clutch pedal, 0 released (engaged) to 1 fully pressed."),
    Channel("steering_angle_rad", "rad", "f4", _C, 1e-3, "Steering wheel angle, positive to the left."),
    Channel("lat_accel_mps2", "m/s^2", "f4", _C, 0.01, "Lateral acceleration including gravity."),
    Channel("long_accel_mps2", "m/s^2", "f4", _C, 0.01, "Longitudinal acceleration including gravity."),
    Channel("yaw_rate_radps", "rad/s", "f4", _C, 1e-3, "Yaw rate."),
    Channel("latitude_deg", "deg", "f8", _C, 1e-7, "Latitude of the car (NaN where the sim gives none)."),
    Channel("longitude_deg", "deg", "f8", _C, 1e-7, "Longitude of the car (NaN where the sim gives none)."),
    Channel("altitude_m", "m", "f4", _C, 0.01, "Altitude of the car."),
    Channel("fuel_level_l", "l", "f4", _C, 1e-3, "Fuel in the tank."),
    Channel("fuel_use_rate_lps", "l/s", "f4", _C, 1e-5, "Instantaneous fuel consumption."),
    Channel("on_pit_road", "bool", "?", _D, 1, "The car is on pit road between the cones."),
    Channel("pit_limiter", "bool", "?", _D, 1, "The pit speed limiter is engaged."),
    Channel("track_surface", "TrackSurface", "i1", _D, 1, "Where the car is (see TrackSurface)."),
    Channel("session_flags", "SessionFlag", "u4", _D, 1, "Flags shown to the player (see SessionFlag)."),
    Channel(
        "session_state",
        "1",
        "i1",
        _D,
        1,
        "Session phase: 0 invalid, 1 get in car, 2 warm-up, 3 parade, 4 racing, 5 checkered, 6 cool-down.",
    ),
    Channel("session_time_remain_s", "s", "f8", _C, 1e-3, "Time left in the session (NaN when unlimited)."),
    Channel("session_laps_remain", "1", "i4", _D, 1, "Laps left in the session (-1 when unlimited or unknown)."),
    Channel("car_left_right", "CarLeftRight", "i1", _D, 1, "Spotter: cars alongside (see CarLeftRight)."),
    Channel("incident_count", "1", "i4", _D, 1, "The player's incident points this session."),
    Channel("position", "1", "i2", _D, 1, "Overall position (0 when not classified)."),
    Channel("class_position", "1", "i2", _D, 1, "Position in class (0 when not classified)."),
    Channel("last_lap_time_s", "s", "f4", _C, 1e-3, "The sim's last lap time (NaN when none or invalid)."),
    Channel("best_lap_time_s", "s", "f4", _C, 1e-3, "The sim's best lap time (NaN when none)."),
    Channel("current_lap_time_s", "s", "f4", _C, 1e-3, "The sim's estimate of the current lap time."),
    Channel(
        "tyre_temp_c", "degC", "f4", _C, 0.1, "Tyre surface temperature, mean across the tread, LF RF LR RR.", (4,)
    ),
    Channel(
        "tyre_carcass_temp_c",
        "degC",
        "f4",
        _C,
        0.1,
        "Tyre carcass temperature, mean across the tread, LF RF LR RR.",
        (4,),
    ),
    Channel("tyre_pressure_kpa", "kPa", "f4", _C, 0.1, "Tyre pressure, LF RF LR RR.", (4,)),
    Channel("tyre_wear_frac", "1", "f4", _C, 1e-3, "Tread remaining (1 new, 0 gone), worst zone, LF RF LR RR.", (4,)),
    Channel("track_temp_c", "degC", "f4", _C, 0.1, "Track surface temperature."),
    Channel("air_temp_c", "degC", "f4", _C, 0.1, "Air temperature."),
)
"""Every per-tick channel of the player's car, in storage order."""

CAR_CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "lap_dist_frac", "1", "f4", _C, 1e-6, "Fraction of the lap travelled (-1 when the car is not in the world)."
    ),
    Channel("lap", "1", "i4", _D, 1, "Lap counter (-1 when unknown)."),
    Channel("lap_completed", "1", "i4", _D, 1, "Laps completed (-1 when unknown)."),
    Channel("position", "1", "i2", _D, 1, "Overall position (0 when not classified)."),
    Channel("class_position", "1", "i2", _D, 1, "Position in class (0 when not classified)."),
    Channel("class_id", "1", "i4", _D, 1, "Car class id (-1 when unknown)."),
    Channel("on_pit_road", "bool", "?", _D, 1, "On pit road between the cones."),
    Channel("track_surface", "TrackSurface", "i1", _D, 1, "Where the car is (see TrackSurface)."),
    Channel("last_lap_time_s", "s", "f4", _C, 1e-3, "Last lap time (NaN when none)."),
    Channel("best_lap_time_s", "s", "f4", _C, 1e-3, "Best lap time (NaN when none)."),
    Channel("est_time_s", "s", "f4", _C, 1e-3, "Estimated time from the line to where the car is now."),
)
"""Per-car arrays (index = the sim's car index), for opponents and the player alike."""

CHANNELS_BY_NAME: Final[Mapping[str, Channel]] = {c.name: c for c in CHANNELS}
CAR_CHANNELS_BY_NAME: Final[Mapping[str, Channel]] = {c.name: c for c in CAR_CHANNELS}


def _dtype_of(channels: Sequence[Channel]) -> np.dtype[np.void]:
    return np.dtype([(c.name, c.dtype, c.shape) if c.shape else (c.name, c.dtype) for c in channels])


FRAME_DTYPE: Final = _dtype_of(CHANNELS)
"""Structured dtype of one tick of the player's car."""
CAR_DTYPE: Final = _dtype_of(CAR_CHANNELS)
"""Structured dtype of one car's entry in the per-car arrays."""


def _missing_record(channels: Sequence[Channel], dtype: np.dtype[np.void]) -> np.ndarray:
    record = np.zeros((), dtype=dtype)
    for channel in channels:
        record[channel.name] = channel.missing
    return record


_FRAME_MISSING: Final = _missing_record(CHANNELS, FRAME_DTYPE)
_CAR_MISSING: Final = _missing_record(CAR_CHANNELS, CAR_DTYPE)


def empty_frames(count: int) -> npt.NDArray[np.void]:
    """`count` frame records with every channel at its missing value."""
    return np.full(count, _FRAME_MISSING, dtype=FRAME_DTYPE)


def empty_cars(count: int) -> npt.NDArray[np.void]:
    """A (count, MAX_CARS) per-car array with every entry at its missing value."""
    return np.full((count, MAX_CARS), _CAR_MISSING, dtype=CAR_DTYPE)


T = TypeVar("T")


class _Field:
    """A descriptor that reads the channel named like the attribute it is assigned to."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name


class _ScalarField(_Field, Generic[T]):
    """Typed attribute access to one scalar channel of a `TelemetryFrame`."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _ScalarField[T]: ...
    @overload
    def __get__(self, obj: TelemetryFrame, owner: type[Any]) -> T: ...
    def __get__(self, obj: TelemetryFrame | None, owner: type[Any]) -> T | _ScalarField[T]:
        if obj is None:
            return self
        value: T = obj.record[self.name].item()
        return value


class _ArrayField(_Field):
    """Typed access to one channel as an array (a column of a `FrameBlock`, or a per-tyre value)."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _ArrayField: ...
    @overload
    def __get__(self, obj: TelemetryFrame | FrameBlock, owner: type[Any]) -> npt.NDArray[Any]: ...
    def __get__(self, obj: TelemetryFrame | FrameBlock | None, owner: type[Any]) -> npt.NDArray[Any] | _ArrayField:
        if obj is None:
            return self
        if isinstance(obj, FrameBlock):
            column: npt.NDArray[Any] = obj.frames[self.name]
            return column
        value: npt.NDArray[Any] = obj.record[self.name]
        return value


class TelemetryFrame:
    """One tick of telemetry: the player's car, plus every car's per-car entry when the sim gives them.

    Attribute access is typed (`frame.speed_mps` is a float, `frame.tyre_temp_c` an array of 4).
    A frame wraps a 0-d structured record; it does not copy it. Frames are values: do not mutate.
    """

    __slots__ = ("cars", "record")

    def __init__(self, record: np.ndarray, cars: npt.NDArray[np.void] | None = None) -> None:
        if record.dtype != FRAME_DTYPE or record.shape != ():
            raise ValueError("a TelemetryFrame wraps one record of FRAME_DTYPE")
        if cars is not None and (cars.dtype != CAR_DTYPE or cars.shape != (MAX_CARS,)):
            raise ValueError("per-car data must be MAX_CARS records of CAR_DTYPE")
        self.record = record
        self.cars = cars

    @classmethod
    def empty(cls) -> TelemetryFrame:
        """A frame with every channel at its missing value."""
        return cls(empty_frames(1)[0:1].reshape(()))

    def __repr__(self) -> str:
        return (
            f"TelemetryFrame(t={self.session_time_s:.3f}s lap={self.lap} "
            f"dist={self.lap_dist_m:.1f}m speed={self.speed_mps:.2f}m/s)"
        )

    def as_dict(self) -> dict[str, Any]:
        """Channel name -> Python value (lists for per-tyre channels), for printing and JSON."""
        return {c.name: self.record[c.name].tolist() for c in CHANNELS}

    session_time_s: _ScalarField[float] = _ScalarField()
    tick: _ScalarField[int] = _ScalarField()
    in_world: _ScalarField[bool] = _ScalarField()
    is_on_track: _ScalarField[bool] = _ScalarField()
    lap: _ScalarField[int] = _ScalarField()
    lap_completed: _ScalarField[int] = _ScalarField()
    lap_dist_m: _ScalarField[float] = _ScalarField()
    lap_dist_frac: _ScalarField[float] = _ScalarField()
    speed_mps: _ScalarField[float] = _ScalarField()
    rpm: _ScalarField[float] = _ScalarField()
    gear: _ScalarField[int] = _ScalarField()
    throttle: _ScalarField[float] = _ScalarField()
    brake: _ScalarField[float] = _ScalarField()
    clutch: _ScalarField[float] = _ScalarField()
    steering_angle_rad: _ScalarField[float] = _ScalarField()
    lat_accel_mps2: _ScalarField[float] = _ScalarField()
    long_accel_mps2: _ScalarField[float] = _ScalarField()
    yaw_rate_radps: _ScalarField[float] = _ScalarField()
    latitude_deg: _ScalarField[float] = _ScalarField()
    longitude_deg: _ScalarField[float] = _ScalarField()
    altitude_m: _ScalarField[float] = _ScalarField()
    fuel_level_l: _ScalarField[float] = _ScalarField()
    fuel_use_rate_lps: _ScalarField[float] = _ScalarField()
    on_pit_road: _ScalarField[bool] = _ScalarField()
    pit_limiter: _ScalarField[bool] = _ScalarField()
    track_surface: _ScalarField[int] = _ScalarField()
    session_flags: _ScalarField[int] = _ScalarField()
    session_state: _ScalarField[int] = _ScalarField()
    session_time_remain_s: _ScalarField[float] = _ScalarField()
    session_laps_remain: _ScalarField[int] = _ScalarField()
    car_left_right: _ScalarField[int] = _ScalarField()
    incident_count: _ScalarField[int] = _ScalarField()
    position: _ScalarField[int] = _ScalarField()
    class_position: _ScalarField[int] = _ScalarField()
    last_lap_time_s: _ScalarField[float] = _ScalarField()
    best_lap_time_s: _ScalarField[float] = _ScalarField()
    current_lap_time_s: _ScalarField[float] = _ScalarField()
    tyre_temp_c = _ArrayField()
    tyre_carcass_temp_c = _ArrayField()
    tyre_pressure_kpa = _ArrayField()
    tyre_wear_frac = _ArrayField()
    track_temp_c: _ScalarField[float] = _ScalarField()
    air_temp_c: _ScalarField[float] = _ScalarField()


@dataclass(frozen=True, slots=True, eq=False)
class FrameBlock:
    """N consecutive ticks: a structured array of FRAME_DTYPE, and optionally (N, MAX_CARS) per-car data.

    Columns are typed views: `block.speed_mps` is the float32 speed of every tick, without a copy.
    """

    frames: npt.NDArray[np.void]
    cars: npt.NDArray[np.void] | None = None

    def __post_init__(self) -> None:
        if self.frames.dtype != FRAME_DTYPE or self.frames.ndim != 1:
            raise ValueError("FrameBlock.frames must be a 1-d array of FRAME_DTYPE")
        if self.cars is not None and (self.cars.dtype != CAR_DTYPE or self.cars.shape != (len(self.frames), MAX_CARS)):
            raise ValueError("FrameBlock.cars must be (N, MAX_CARS) records of CAR_DTYPE")

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> TelemetryFrame:
        position = range(len(self.frames))[index]  # normalises negative indices, raises IndexError
        record = self.frames[position : position + 1].reshape(())
        cars = None if self.cars is None else self.cars[position]
        return TelemetryFrame(record, cars)

    def __iter__(self) -> Iterator[TelemetryFrame]:
        for index in range(len(self.frames)):
            yield self[index]

    def slice(self, start: int, stop: int) -> FrameBlock:
        """Ticks [start, stop) as a block sharing memory with this one."""
        return FrameBlock(self.frames[start:stop], None if self.cars is None else self.cars[start:stop])

    @classmethod
    def from_frames(cls, frames: Sequence[TelemetryFrame]) -> FrameBlock:
        """Stack single frames into a block (copies)."""
        records = np.array([f.record for f in frames], dtype=FRAME_DTYPE).reshape(len(frames))
        with_cars = [f.cars for f in frames if f.cars is not None]
        cars = np.stack(with_cars) if frames and len(with_cars) == len(frames) else None
        return cls(records, cars)

    @classmethod
    def concatenate(cls, blocks: Sequence[FrameBlock]) -> FrameBlock:
        """Join blocks end to end (per-car data kept only if every block has it)."""
        frames = np.concatenate([b.frames for b in blocks]) if blocks else empty_frames(0)
        cars_parts = [b.cars for b in blocks if b.cars is not None]
        cars = np.concatenate(cars_parts) if blocks and len(cars_parts) == len(blocks) else None
        return cls(frames, cars)

    session_time_s = _ArrayField()
    tick = _ArrayField()
    in_world = _ArrayField()
    is_on_track = _ArrayField()
    lap = _ArrayField()
    lap_completed = _ArrayField()
    lap_dist_m = _ArrayField()
    lap_dist_frac = _ArrayField()
    speed_mps = _ArrayField()
    rpm = _ArrayField()
    gear = _ArrayField()
    throttle = _ArrayField()
    brake = _ArrayField()
    clutch = _ArrayField()
    steering_angle_rad = _ArrayField()
    lat_accel_mps2 = _ArrayField()
    long_accel_mps2 = _ArrayField()
    yaw_rate_radps = _ArrayField()
    latitude_deg = _ArrayField()
    longitude_deg = _ArrayField()
    altitude_m = _ArrayField()
    fuel_level_l = _ArrayField()
    fuel_use_rate_lps = _ArrayField()
    on_pit_road = _ArrayField()
    pit_limiter = _ArrayField()
    track_surface = _ArrayField()
    session_flags = _ArrayField()
    session_state = _ArrayField()
    session_time_remain_s = _ArrayField()
    session_laps_remain = _ArrayField()
    car_left_right = _ArrayField()
    incident_count = _ArrayField()
    position = _ArrayField()
    class_position = _ArrayField()
    last_lap_time_s = _ArrayField()
    best_lap_time_s = _ArrayField()
    current_lap_time_s = _ArrayField()
    tyre_temp_c = _ArrayField()
    tyre_carcass_temp_c = _ArrayField()
    tyre_pressure_kpa = _ArrayField()
    tyre_wear_frac = _ArrayField()
    track_temp_c = _ArrayField()
    air_temp_c = _ArrayField()


def json_ready(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (recursively), so `json.dumps` writes valid JSON."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value


# --------------------------------------------------------------------------- laps


class LapKind(enum.Enum):
    """How a lap was driven."""

    OUT = "out"  # started from pit road
    IN = "in"  # ended on, or entered, pit road
    FLYING = "flying"  # a complete racing lap
    INVALID = "invalid"  # off track, reset, tow, or not in the world for part of it


@dataclass(frozen=True, slots=True)
class Lap:
    """One lap that ended at the line. Times in seconds of session time; indices into the block."""

    number: int
    kind: LapKind
    start_index: int
    end_index: int
    """One past the lap's last frame: the first frame of the next lap."""
    start_time_s: float | None
    """Interpolated line-crossing time; None when the lap started from the pits, not at the line."""
    end_time_s: float
    time_s: float | None
    sim_time_s: float | None
    """The sim's own last-lap time for this lap, when it reported one."""
    fuel_used_l: float | None
    top_speed_mps: float
    reasons: tuple[str, ...] = ()
    """Why a lap is invalid (or in/out), in words."""
    under_caution: bool = False
    """A yellow or caution flag was shown to the driver during the lap."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "lap": self.number,
            "time_s": None if self.time_s is None else round(self.time_s, 3),
            "kind": self.kind.value,
            "fuel_used_l": None if self.fuel_used_l is None else round(self.fuel_used_l, 3),
            "top_speed_mps": round(self.top_speed_mps, 2),
            "sim_time_s": None if self.sim_time_s is None else round(self.sim_time_s, 3),
            "start_time_s": None if self.start_time_s is None else round(self.start_time_s, 3),
            "end_time_s": round(self.end_time_s, 3),
            "reasons": list(self.reasons),
            "under_caution": self.under_caution,
        }


# --------------------------------------------------------------------------- session


class SessionType(enum.Enum):
    """What kind of session is running."""

    PRACTICE = "practice"
    QUALIFY = "qualify"
    RACE = "race"
    WARMUP = "warmup"
    TESTING = "testing"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """The track: `name` is the sim's identifier, `display_name` what a driver reads."""

    name: str
    display_name: str
    config: str
    length_m: float
    sector_starts_frac: tuple[float, ...] = ()
    """Lap fraction at which each sector starts (the first is 0.0)."""
    city: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class CarClass:
    """A class of cars racing together."""

    class_id: int
    name: str
    est_lap_time_s: float = float("nan")


@dataclass(frozen=True, slots=True)
class DriverEntry:
    """One car in the session and the driver currently in it."""

    car_idx: int
    driver_name: str
    driver_id: int
    car_number: str
    car_name: str
    car_path: str
    class_id: int
    class_name: str
    team_id: int = 0
    team_name: str = ""
    is_pace_car: bool = False
    is_spectator: bool = False
    is_ai: bool = False
    irating: int = 0
    incident_count: int = 0


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What the sim says about the session. Replaced (never mutated) when the sim updates it.

    `update_count` is the sim's own session-info counter; `laps` is None for a timed or open session
    and `time_limit_s` None for an unlimited one.
    """

    sim: str
    track: TrackInfo
    session_type: SessionType
    session_name: str
    player_car_idx: int
    drivers: tuple[DriverEntry, ...]
    laps: int | None = None
    time_limit_s: float | None = None
    team_racing: bool = False
    update_count: int = 0
    fuel_density_kg_per_l: float = 0.75
    max_fuel_l: float = float("nan")
    session_num: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Sim-specific details worth keeping (never needed by other packages)."""

    @property
    def player(self) -> DriverEntry | None:
        """The entry of the player's car, if the sim listed it."""
        for entry in self.drivers:
            if entry.car_idx == self.player_car_idx:
                return entry
        return None

    @property
    def classes(self) -> tuple[CarClass, ...]:
        """Every car class in the session, in order of class id (pace cars and spectators left out)."""
        seen: dict[int, CarClass] = {}
        for entry in self.drivers:
            if entry.is_pace_car or entry.is_spectator:
                continue
            seen.setdefault(entry.class_id, CarClass(entry.class_id, entry.class_name))
        return tuple(seen[k] for k in sorted(seen))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (what the CLI prints and the relay forwards)."""
        player = self.player
        return {
            "sim": self.sim,
            "track": {
                "name": self.track.name,
                "display_name": self.track.display_name,
                "config": self.track.config,
                "length_m": round(self.track.length_m, 1),
                "sectors": len(self.track.sector_starts_frac),
                "city": self.track.city,
                "country": self.track.country,
            },
            "car": player.car_name if player else "",
            "car_path": player.car_path if player else "",
            "driver": player.driver_name if player else "",
            "team": player.team_name if player else "",
            "session_type": self.session_type.value,
            "session_name": self.session_name,
            "laps": self.laps,
            "time_limit_s": self.time_limit_s,
            "team_racing": self.team_racing,
            "classes": [{"id": c.class_id, "name": c.name} for c in self.classes],
            "drivers": [
                {
                    "car_idx": d.car_idx,
                    "name": d.driver_name,
                    "id": d.driver_id,
                    "car_number": d.car_number,
                    "car": d.car_name,
                    "class_id": d.class_id,
                    "class": d.class_name,
                    "team_id": d.team_id,
                    "team": d.team_name,
                }
                for d in self.drivers
                if not d.is_pace_car and not d.is_spectator
            ],
        }
