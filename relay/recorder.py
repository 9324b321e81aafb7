"""Session recording: canonical frames written as iRacing `.ibt` files that the replay adapter reads back.

`SessionRecorder` appends `FrameBlock`s to one `.ibt` file; `record_batches` records the binary
telemetry batches the relay spools (`relay.protocol.decode_batch`) for one car. The file is laid out
with `adapters.irsdk_layout` (the one declaration of iRacing's binary layout):

    header (112 bytes) | disk sub-header (32) | variable headers (144 each) |
    session-info YAML (zero-padded region) | records, `buf_len` bytes each, end to end

Every canonical channel is stored under the iRacing variable that `adapters.iracing_channels.
ChannelDecoder` reads it from (the inverse of the decoder's rules), converted back where the decoder
converts: `Clutch` = 1 - clutch; `FuelUsePerHour` in kg/h (with the session's fuel density, which the
YAML carries); `EngineWarnings` holds the pit-limiter bit; lap times with no value are written as -1,
an unlimited session as 604800 s / 32767 laps, a missing GPS position as (0, 0); per-tyre channels
are written to all three tread zones (`LFtempL/M/R`, `LFtempCL/CM/CR`, `LFwearL/M/R`) so the
decoder's mean (temperatures) and minimum (wear) give the value back. With per-car data the per-car
channels go to the 64-wide `CarIdx*` arrays. Floats are stored as float32 (iRacing's `float`), except
`SessionTime`, `SessionTimeRemain`, `Lat` and `Lon`, which are doubles as in iRacing. The session-info
YAML (UTF-8, written the way pyirsdk parses iRacing's) describes the track, the sessions, the
drivers and the sectors, so `adapters.iracing_session` reads back an equivalent `SessionInfo`.

What does not round-trip exactly (everything else reads back within float32 storage, well within
each channel's declared precision):

* `in_world` is not stored: the decoder derives it from `PlayerTrackSurface` (not in world = -1).
  A frame out of the world is written with surface -1; an in-world frame whose `track_surface` is
  unknown (-1) is written as the decoder classifies old files that lack the surface (approaching
  pits when on pit road, else on track), so `in_world` always survives and `track_surface` changes
  only for such frames.
* Sentinels the decoder maps to "missing": a lap time <= 0 reads back as NaN; a session time
  remaining < 0 or >= 604800 s as NaN; laps remaining >= 32767 as -1; a position of exactly
  (0, 0) degrees, or one where only one of latitude/longitude is NaN, as NaN for both.
* `fuel_use_rate_lps` goes through kg/h and back (relative error ~1e-7); the density is the one of
  the session the recorder was opened with (the file has one density for all its records).
* Per-car data: a file records `CarIdx*` arrays for every record or for none. Without them the
  decoder reads `cars` as None; with them, a block written without per-car data reads back with
  every car entry at its missing value.
* Session info: `sim` reads back as "iracing"; `extra` keeps only the iRacing keys
  `adapters.iracing_session` knows. A session given as `SessionInfo.to_dict()` has lost its sector
  boundaries, pace cars and spectators, and (unless the dict says `player_car_idx`) the player's
  car index is found by matching the driver and car names.

Durability: records are buffered and written at least once per second of telemetry (`flush_interval_s`),
records first and then the headers (record count, end time, lap count), so a file whose writer was
killed is readable up to its last flushed record; a torn record after it is ignored by the reader.
`durable=True` adds an fsync after each step (power cuts as well as killed processes).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt

from adapters.iracing_channels import PIT_LIMITER_BIT, UNLIMITED_LAPS, UNLIMITED_TIME_S, ChannelDecoder
from adapters.irsdk_layout import (
    DISK_SUB_HEADER_SIZE,
    HEADER_SIZE,
    STATUS_CONNECTED,
    DiskSubHeader,
    Header,
    VarBuf,
    VarHeader,
    layout_vars,
    pack_var_headers,
    record_dtype,
)
from adapters.model import (
    MAX_CARS,
    TYRES,
    DriverEntry,
    FrameBlock,
    SessionInfo,
    SessionType,
    TrackInfo,
    TrackSurface,
    empty_cars,
)
from relay.errors import RecorderError
from relay.protocol import ProtocolError, TelemetryBatch, decode_batch

logger = logging.getLogger(__name__)

Array = npt.NDArray[Any]

IBT_VERSION: Final = 2
DEFAULT_FUEL_DENSITY_KG_PER_L: Final = 0.75
SESSION_INFO_MIN_BYTES: Final = 32 * 1024
"""Smallest session-info region reserved; `update_session` rewrites the YAML in place within it."""
_UTF8_SIGN: Final = "---\nWeekendInfo:\n Encoding: UTF8\n"
"""The opening pyirsdk recognises as UTF-8 session info (otherwise it decodes cp1252)."""

CHAR, BOOL, INT, BITFIELD, FLOAT, DOUBLE = 0, 1, 2, 3, 4, 5
"""irsdk variable type codes."""


# --------------------------------------------------------------------------- the variable table


def _lap_time(values: Array) -> Array:
    """The decoder reads a lap time <= 0 as 'none'; iRacing writes -1."""
    return np.where(values > 0, values, -1.0)


@dataclass(frozen=True, slots=True)
class _Var:
    """One iRacing variable written from one canonical channel (column `corner` of a per-tyre one)."""

    name: str
    type: int
    unit: str
    desc: str
    channel: str
    convert: Callable[[Array], Array] | None = None
    corner: int | None = None


_PLAYER_VARS: Final[tuple[_Var, ...]] = (
    _Var("SessionTime", DOUBLE, "s", "Seconds since session start", "session_time_s"),
    _Var("SessionTick", INT, "", "Current update number", "tick"),
    _Var("SessionState", INT, "irsdk_SessionState", "Session state", "session_state"),
    _Var("SessionFlags", BITFIELD, "irsdk_Flags", "Session flags", "session_flags"),
    _Var(
        "SessionTimeRemain",
        DOUBLE,
        "s",
        "Seconds left till session ends",
        "session_time_remain_s",
        lambda v: np.where(np.isnan(v), UNLIMITED_TIME_S, v),
    ),
    _Var(
        "SessionLapsRemainEx",
        INT,
        "",
        "New improved laps left till session ends",
        "session_laps_remain",
        lambda v: np.where(v < 0, UNLIMITED_LAPS, v),
    ),
    _Var("IsOnTrack", BOOL, "", "1=Car on track physics running with player in car", "is_on_track"),
    _Var("PlayerCarPosition", INT, "", "Players position in race", "position"),
    _Var("PlayerCarClassPosition", INT, "", "Players class position in race", "class_position"),
    _Var("PlayerCarMyIncidentCount", INT, "", "Players own incident count for this session", "incident_count"),
    _Var("OnPitRoad", BOOL, "", "Is the player car on pit road between the cones", "on_pit_road"),
    _Var("SteeringWheelAngle", FLOAT, "rad", "Steering wheel angle", "steering_angle_rad"),
    _Var("Throttle", FLOAT, "%", "0=off throttle to 1=full throttle", "throttle"),
    _Var("Brake", FLOAT, "%", "0=brake released to 1=max pedal force", "brake"),
    # iRacing's Clutch is 1 when fully engaged (pedal released); the canonical clutch is the pedal.
    _Var("Clutch", FLOAT, "%", "0=disengaged to 1=fully engaged", "clutch", lambda v: 1.0 - v),
    _Var("Gear", INT, "", "-1=reverse  0=neutral  1..n=current gear", "gear"),
    _Var("RPM", FLOAT, "revs/min", "Engine rpm", "rpm"),
    _Var("Lap", INT, "", "Laps started count", "lap"),
    _Var("LapCompleted", INT, "", "Laps completed count", "lap_completed"),
    _Var("LapDist", FLOAT, "m", "Meters traveled from S/F this lap", "lap_dist_m"),
    _Var("LapDistPct", FLOAT, "%", "Percentage distance around lap", "lap_dist_frac"),
    _Var("LapBestLapTime", FLOAT, "s", "Players best lap time", "best_lap_time_s", _lap_time),
    _Var("LapLastLapTime", FLOAT, "s", "Players last lap time", "last_lap_time_s", _lap_time),
    _Var(
        "LapCurrentLapTime",
        FLOAT,
        "s",
        "Estimate of players current lap time as shown in F3 box",
        "current_lap_time_s",
    ),
    _Var("Speed", FLOAT, "m/s", "GPS vehicle speed", "speed_mps"),
    _Var("YawRate", FLOAT, "rad/s", "Yaw rate", "yaw_rate_radps"),
    _Var("LatAccel", FLOAT, "m/s^2", "Lateral acceleration (including gravity)", "lat_accel_mps2"),
    _Var("LongAccel", FLOAT, "m/s^2", "Longitudinal acceleration (including gravity)", "long_accel_mps2"),
    _Var("Alt", FLOAT, "m", "Altitude in meters", "altitude_m"),
    _Var("FuelLevel", FLOAT, "l", "Liters of fuel remaining", "fuel_level_l"),
    _Var(
        "EngineWarnings",
        BITFIELD,
        "irsdk_EngineWarnings",
        "Bitfield for warning lights",
        "pit_limiter",
        lambda v: np.where(v, PIT_LIMITER_BIT, 0),
    ),
    _Var(
        "CarLeftRight", INT, "irsdk_CarLeftRight", "Notify if car is to the left or right of driver", "car_left_right"
    ),
    _Var("TrackTempCrew", FLOAT, "C", "Temperature of track measured by crew around track", "track_temp_c"),
    _Var("AirTemp", FLOAT, "C", "Temperature of air at start/finish line", "air_temp_c"),
    *(
        _Var(f"{corner.upper()}{key}{zone}", FLOAT, unit, f"{corner.upper()} tire {side} {what}", channel, None, i)
        for i, corner in enumerate(TYRES)
        for key, unit, what, channel in (
            ("temp", "C", "surface temperature", "tyre_temp_c"),
            ("tempC", "C", "carcass temperature", "tyre_carcass_temp_c"),
            ("wear", "%", "percent tread remaining", "tyre_wear_frac"),
        )
        for zone, side in (("L", "left"), ("M", "middle"), ("R", "right"))
    ),
    *(
        _Var(f"{corner.upper()}pressure", FLOAT, "kPa", f"{corner.upper()} tire pressure", "tyre_pressure_kpa", None, i)
        for i, corner in enumerate(TYRES)
    ),
)
"""Player-car variables written straight from one channel (with the decoder's conversion inverted)."""

_SPECIAL_VARS: Final[tuple[tuple[str, int, str, str], ...]] = (
    ("SessionNum", INT, "", "Session number"),
    ("PlayerCarIdx", INT, "", "Players carIdx"),
    ("PlayerTrackSurface", INT, "irsdk_TrkLoc", "Players car track surface type"),
    ("FuelUsePerHour", FLOAT, "kg/h", "Engine fuel used instantaneous"),
    ("Lat", DOUBLE, "deg", "Latitude in decimal degrees"),
    ("Lon", DOUBLE, "deg", "Longitude in decimal degrees"),
)
"""Variables computed from more than one channel, or from the session: see `SessionRecorder._records`."""

_CAR_VARS: Final[tuple[_Var, ...]] = (
    _Var("CarIdxLap", INT, "", "Laps started by car index", "lap"),
    _Var("CarIdxLapCompleted", INT, "", "Laps completed by car index", "lap_completed"),
    _Var("CarIdxLapDistPct", FLOAT, "%", "Percentage distance around lap by car index", "lap_dist_frac"),
    _Var("CarIdxTrackSurface", INT, "irsdk_TrkLoc", "Track surface type by car index", "track_surface"),
    _Var("CarIdxOnPitRoad", BOOL, "", "On pit road between the cones by car index", "on_pit_road"),
    _Var("CarIdxPosition", INT, "", "Cars position in race by car index", "position"),
    _Var("CarIdxClassPosition", INT, "", "Cars class position in race by car index", "class_position"),
    _Var("CarIdxClass", INT, "", "Cars class id by car index", "class_id"),
    _Var("CarIdxEstTime", FLOAT, "s", "Estimated time to reach current location on track", "est_time_s"),
    _Var("CarIdxLastLapTime", FLOAT, "s", "Cars last lap time", "last_lap_time_s", _lap_time),
    _Var("CarIdxBestLapTime", FLOAT, "s", "Cars best lap time", "best_lap_time_s", _lap_time),
)
"""Per-car variables (64 wide), one per `CAR_CHANNELS` entry."""


def variable_table(*, cars: bool) -> tuple[tuple[VarHeader, ...], int]:
    """The variable headers a recording holds (with or without the CarIdx arrays), and its record length."""
    specs: list[tuple[str, int, int, str, str]] = [(v.name, v.type, 1, v.unit, v.desc) for v in _PLAYER_VARS]
    specs += [(name, var_type, 1, unit, desc) for name, var_type, unit, desc in _SPECIAL_VARS]
    if cars:
        specs += [(v.name, v.type, MAX_CARS, v.unit, v.desc) for v in _CAR_VARS]
    return layout_vars(specs)


# --------------------------------------------------------------------------- session info


def _fixed(value: float, digits: int = 6) -> str:
    """A number pyirsdk and `iracing_session._number` read back (never exponent notation)."""
    return f"{value:.{digits}f}"


_UNPRINTABLE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What YAML cannot hold in a scalar (pyirsdk strips it), plus the characters YAML reads as line breaks."""


def _q(value: object) -> str:
    """A string value as iRacing writes it in UTF-8 session info: in double quotes, unescaped.

    pyirsdk escapes quotes and backslashes inside such a value before parsing (that is how iRacing
    writes them), so nothing is escaped here; line breaks and unprintable characters become spaces.
    """
    return '"' + _UNPRINTABLE.sub(" ", str(value)) + '"'


_SESSION_TYPE_NAMES: Final = {
    SessionType.PRACTICE: "Practice",
    SessionType.QUALIFY: "Qualify",
    SessionType.RACE: "Race",
    SessionType.WARMUP: "Warmup",
    SessionType.TESTING: "Offline Testing",
    SessionType.OTHER: "Other",
}
"""Names `iracing_session.session_type_of` maps back to each session type."""


def _whole(value: Any) -> int:
    """An integer extra (0 when absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return int(value)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def session_yaml(info: SessionInfo, *, fuel_density_kg_per_l: float | None = None) -> str:
    """iRacing session-info YAML for `info`, in the sections and keys `adapters.iracing_session` reads.

    Every list item starts with a number (`SessionNum`, `CarIdx`, `SectorNum`) so pyirsdk's handling of
    quoted values applies to every string, whatever a driver's name holds.
    """
    extra = info.extra
    density = fuel_density_kg_per_l if fuel_density_kg_per_l is not None else _fuel_density(info)
    type_name = _SESSION_TYPE_NAMES[info.session_type]
    weekend = [
        f" TrackName: {_q(info.track.name)}",
        f" TrackID: {_whole(extra.get('track_id'))}",
        f" TrackLength: {_fixed(info.track.length_m / 1000.0, 9)} km",
        f" TrackDisplayName: {_q(info.track.display_name)}",
        f" TrackConfigName: {_q(info.track.config)}",
        f" TrackCity: {_q(info.track.city)}",
        f" TrackCountry: {_q(info.track.country)}",
    ]
    if (pit_limit := _finite(extra.get("pit_speed_limit_mps"))) is not None:
        weekend.append(f" TrackPitSpeedLimit: {_fixed(pit_limit * 3.6)} kph")
    weekend += [
        f" SeriesID: {_whole(extra.get('series_id'))}",
        f" SubSessionID: {_whole(extra.get('subsession_id'))}",
        f" EventType: {_q(extra.get('event_type') or type_name)}",
        f" TeamRacing: {int(info.team_racing)}",
        f" BuildVersion: {_q(extra.get('build', ''))}",
    ]
    session = [
        f" - SessionNum: {info.session_num}",
        f"   SessionLaps: {'unlimited' if info.laps is None else int(info.laps)}",
        "   SessionTime: " + ("unlimited" if info.time_limit_s is None else f"{_fixed(info.time_limit_s, 4)} sec"),
        f"   SessionType: {_q(type_name)}",
        f"   SessionName: {_q(info.session_name)}",
    ]
    driver_info = [f" DriverCarIdx: {info.player_car_idx}"]
    if isinstance(extra.get("driver_user_id"), int):
        driver_info.append(f" DriverUserID: {extra['driver_user_id']}")
    elif info.player is not None:
        driver_info.append(f" DriverUserID: {info.player.driver_id}")
    driver_info.append(f" DriverCarFuelKgPerLtr: {_fixed(density)}")
    if (max_fuel := _finite(info.max_fuel_l)) is not None:
        driver_info += [f" DriverCarFuelMaxLtr: {_fixed(max_fuel)}", " DriverCarMaxFuelPct: 1.000000"]
    if (est := _finite(extra.get("est_lap_time_s"))) is not None:
        driver_info.append(f" DriverCarEstLapTime: {_fixed(est, 4)}")
    if (pit_frac := _finite(extra.get("pit_lane_frac"))) is not None:
        driver_info.append(f" DriverPitTrkPct: {_fixed(pit_frac)}")
    driver_info.append(" Drivers:")
    for d in info.drivers:
        driver_info += [
            f" - CarIdx: {d.car_idx}",
            f"   UserName: {_q(d.driver_name)}",
            f"   UserID: {d.driver_id}",
            f"   TeamID: {d.team_id}",
            f"   TeamName: {_q(d.team_name)}",
            f"   CarNumber: {_q(d.car_number)}",
            f"   CarPath: {_q(d.car_path)}",
            f"   CarClassID: {d.class_id}",
            f"   CarScreenName: {_q(d.car_name)}",
            f"   CarClassShortName: {_q(d.class_name)}",
            f"   CarIsPaceCar: {int(d.is_pace_car)}",
            f"   CarIsAI: {int(d.is_ai)}",
            f"   IsSpectator: {int(d.is_spectator)}",
            f"   IRating: {d.irating}",
            f"   CurDriverIncidentCount: {d.incident_count}",
        ]
    sectors = [" Sectors:"]
    for number, start in enumerate(info.track.sector_starts_frac):
        sectors += [f" - SectorNum: {number}", f"   SectorStartPct: {_fixed(start)}"]
    sections = [
        _UTF8_SIGN + "\n".join(weekend),
        "SessionInfo:\n Sessions:\n" + "\n".join(session),
        "DriverInfo:\n" + "\n".join(driver_info),
        "SplitTimeInfo:\n" + "\n".join(sectors),
    ]
    return "\n\n".join(sections) + "\n\n...\n"


def _fuel_density(info: SessionInfo) -> float:
    density = info.fuel_density_kg_per_l
    return density if math.isfinite(density) and density > 0 else DEFAULT_FUEL_DENSITY_KG_PER_L


def _get(data: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in data and data[key] is not None:
            return data[key]
    return default


_DRIVER_ALIASES: Final = {
    "driver_name": ("driver_name", "name"),
    "driver_id": ("driver_id", "id"),
    "car_name": ("car_name", "car"),
    "class_name": ("class_name", "class"),
    "team_name": ("team_name", "team"),
}
"""`DriverEntry` field -> the keys it may have in a dict (its own name, then `SessionInfo.to_dict`'s)."""


def session_info_from_dict(data: Mapping[str, Any]) -> SessionInfo:
    """A `SessionInfo` from its `to_dict()` form (what the relay receives), or from field-named keys.

    `to_dict()` does not carry the player's car index: a `player_car_idx` key is used when present,
    else the driver entry whose name (and car) match the dict's `driver` (and `car`), else -1.
    """
    track = _get(data, "track", default={})
    if not isinstance(track, Mapping):
        raise RecorderError("session info: `track` must be an object")
    drivers: list[DriverEntry] = []
    for entry in _get(data, "drivers", default=()):
        if not isinstance(entry, Mapping):
            continue
        values: dict[str, Any] = {}
        for f in fields(DriverEntry):
            value = _get(entry, *_DRIVER_ALIASES.get(f.name, (f.name,)))
            if value is not None:
                values[f.name] = value
        values.setdefault("car_idx", -1)
        for name in ("driver_name", "car_number", "car_name", "car_path", "class_name"):
            values.setdefault(name, "")
        for name in ("driver_id", "class_id"):
            values.setdefault(name, 0)
        drivers.append(DriverEntry(**values))
    player_idx = _get(data, "player_car_idx")
    if not isinstance(player_idx, int):
        name, car = _get(data, "driver", default=""), _get(data, "car", default="")
        matches = [d for d in drivers if d.driver_name == name and name]
        exact = [d for d in matches if d.car_name == car]
        player_idx = (exact or matches)[0].car_idx if matches else -1
    car_path = _get(data, "car_path", default="")
    if car_path:
        drivers = [
            replace(d, car_path=str(car_path)) if d.car_idx == player_idx and not d.car_path else d for d in drivers
        ]
    try:
        session_type = SessionType(_get(data, "session_type", default="other"))
    except ValueError:
        session_type = SessionType.OTHER
    sectors = _get(track, "sector_starts_frac", default=())
    laps = _get(data, "laps")
    time_limit = _get(data, "time_limit_s")
    return SessionInfo(
        sim=str(_get(data, "sim", default="")),
        track=TrackInfo(
            name=str(_get(track, "name", default="")),
            display_name=str(_get(track, "display_name", "name", default="")),
            config=str(_get(track, "config", default="")),
            length_m=float(_get(track, "length_m", default=float("nan"))),
            sector_starts_frac=tuple(float(s) for s in sectors) if isinstance(sectors, list | tuple) else (),
            city=str(_get(track, "city", default="")),
            country=str(_get(track, "country", default="")),
        ),
        session_type=session_type,
        session_name=str(_get(data, "session_name", default="")),
        player_car_idx=player_idx,
        drivers=tuple(drivers),
        laps=None if laps is None else int(laps),
        time_limit_s=None if time_limit is None else float(time_limit),
        team_racing=bool(_get(data, "team_racing", default=False)),
        update_count=int(_get(data, "update_count", default=0)),
        fuel_density_kg_per_l=float(_get(data, "fuel_density_kg_per_l", default=DEFAULT_FUEL_DENSITY_KG_PER_L)),
        max_fuel_l=float(_get(data, "max_fuel_l", default=float("nan"))),
        session_num=int(_get(data, "session_num", default=0)),
        extra=dict(_get(data, "extra", default={})),
    )


def _as_session(session: SessionInfo | Mapping[str, Any]) -> SessionInfo:
    if isinstance(session, SessionInfo):
        return session
    if isinstance(session, Mapping):
        try:
            return session_info_from_dict(session)
        except (TypeError, ValueError) as exc:
            raise RecorderError(f"session info is not usable: {exc}") from exc
    raise RecorderError(f"session must be a SessionInfo or its dict form, not {type(session).__name__}")


# --------------------------------------------------------------------------- the recorder


class SessionRecorder:
    """Writes one session to an `.ibt` file, block by block. Use as a context manager, or call `close()`.

    `cars`: record the CarIdx arrays (True), not (False), or decide on the first block that has
    frames (None: the arrays are recorded if it carries per-car data). `flush_interval_s`: buffered
    records are written once they span this much telemetry (session time, or records at
    `tick_rate_hz`). `durable`: fsync after writing records and after updating the headers.
    `started_at_s`: the session's start (Unix time) for the disk header; default now.
    """

    def __init__(
        self,
        path: Path,
        session: SessionInfo | Mapping[str, Any],
        tick_rate_hz: int = 60,
        *,
        cars: bool | None = None,
        flush_interval_s: float = 1.0,
        durable: bool = False,
        started_at_s: float | None = None,
    ) -> None:
        if tick_rate_hz < 1:
            raise ValueError("tick_rate_hz must be at least 1")
        if not flush_interval_s > 0:
            raise ValueError("flush_interval_s must be positive")
        self.path = Path(path)
        self.tick_rate_hz = tick_rate_hz
        self.flush_interval_s = flush_interval_s
        self.durable = durable
        self._session = _as_session(session)
        self._density = _fuel_density(self._session)
        self._cars = cars
        self._started_at = int(time.time() if started_at_s is None else started_at_s)
        self._flush_records = max(1, int(round(tick_rate_hz * flush_interval_s)))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[bytes] = open(self.path, "w+b")  # noqa: SIM115 - open for the recorder's life
        except OSError as exc:
            raise RecorderError(f"cannot create the recording {self.path}: {exc.strerror or exc}") from exc
        self._closed = False
        self._var_headers: tuple[VarHeader, ...] = ()
        self._buf_len = 0
        self._dtype: np.dtype[np.void] | None = None
        self._info_offset = 0
        self._info_len = 0
        self._records_offset = 0
        self._update_count = self._session.update_count
        self._pending: list[bytes] = []
        self._pending_records = 0
        self._pending_since_s: float | None = None
        self._flushed = 0
        self._first_time_s: float | None = None
        self._last_time_s: float | None = None
        self._last_tick = 0
        self._laps: set[int] = set()
        self._warned_cars = False

    # ---------------------------------------------------------------- state

    @property
    def session(self) -> SessionInfo:
        """The session the file describes (as last given)."""
        return self._session

    @property
    def record_count(self) -> int:
        """Records written so far, buffered ones included."""
        return self._flushed + self._pending_records

    @property
    def flushed_count(self) -> int:
        """Records on disk and counted in the disk header (what a reader sees if the writer dies now)."""
        return self._flushed

    @property
    def has_cars(self) -> bool | None:
        """Whether the file holds the CarIdx arrays (None until the first block decides it)."""
        return self._cars if self._dtype is not None else None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def variables(self) -> tuple[VarHeader, ...]:
        """The file's variable table (empty until the first block, or `close()`, lays the file out)."""
        return self._var_headers

    # ---------------------------------------------------------------- writing

    def write(self, block: FrameBlock) -> None:
        """Append the block's frames (buffered; written once a flush interval of telemetry is waiting)."""
        self._check_open()
        if not isinstance(block, FrameBlock):
            raise RecorderError(f"write() takes a FrameBlock, not {type(block).__name__}")
        if len(block) == 0:
            return
        if self._dtype is None:
            self._start(block.cars is not None if self._cars is None else self._cars)
        if block.cars is not None and not self._cars and not self._warned_cars:
            self._warned_cars = True
            logger.info("%s: per-car data not recorded (the file was laid out without CarIdx arrays)", self.path.name)
        data = self._records(block)
        self._note(block)
        self._pending.append(data)
        self._pending_records += len(block)
        times = block.session_time_s
        if self._pending_since_s is None:
            self._pending_since_s = float(times[0])
        span = float(times[-1]) - self._pending_since_s
        if self._pending_records >= self._flush_records or span >= self.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write buffered records, then the headers that count them, and hand both to the OS."""
        self._check_open()
        if self._dtype is None:
            return
        try:
            if self._pending:
                self._file.seek(self._records_offset + self._flushed * self._buf_len)
                self._file.write(b"".join(self._pending))
                self._file.flush()
                if self.durable:
                    os.fsync(self._file.fileno())
                self._flushed += self._pending_records
                self._pending.clear()
                self._pending_records = 0
                self._pending_since_s = None
            self._write_headers()
        except OSError as exc:
            raise RecorderError(f"cannot write the recording {self.path}: {exc.strerror or exc}") from exc

    def update_session(self, session: SessionInfo | Mapping[str, Any]) -> None:
        """Replace the session info (a driver swap, new drivers): the YAML is rewritten in place now.

        The fuel density stays the one the file was opened with (records hold fuel use in kg/h).
        Raises RecorderError if the new YAML does not fit the region reserved when the file was laid out.
        """
        self._check_open()
        info = _as_session(session)
        if self._dtype is not None and len(self._yaml_bytes(info)) >= self._info_len:
            raise RecorderError(f"{self.path.name}: the new session info does not fit the space reserved for it")
        self._session = info
        self._update_count = max(self._update_count + 1, info.update_count)
        if self._dtype is not None:
            self._write_session_info()

    def close(self) -> None:
        """Flush, finalise the headers and close the file (idempotent). A file with no records is valid."""
        if self._closed:
            return
        try:
            if self._dtype is None:
                self._start(bool(self._cars))
            self.flush()
            if self.durable:
                os.fsync(self._file.fileno())
        finally:
            self._closed = True
            self._file.close()

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- layout

    def _check_open(self) -> None:
        if self._closed:
            raise RecorderError(f"the recording {self.path} is closed")

    def _yaml_bytes(self, info: SessionInfo) -> bytes:
        return session_yaml(info, fuel_density_kg_per_l=self._density).encode("utf-8")

    def _start(self, cars: bool) -> None:
        """Lay the file out: headers, variable table and session info, before the first record."""
        self._cars = cars
        self._var_headers, self._buf_len = variable_table(cars=cars)
        self._dtype = record_dtype(self._var_headers, self._buf_len)
        var_offset = HEADER_SIZE + DISK_SUB_HEADER_SIZE
        self._info_offset = var_offset + len(pack_var_headers(self._var_headers))
        yaml_len = len(self._yaml_bytes(self._session))
        self._info_len = (max(SESSION_INFO_MIN_BYTES, 2 * yaml_len) + 15) // 16 * 16
        self._records_offset = self._info_offset + self._info_len
        try:
            self._file.seek(var_offset)
            self._file.write(pack_var_headers(self._var_headers))
            self._write_session_info()
            self._write_headers()
        except OSError as exc:
            raise RecorderError(f"cannot write the recording {self.path}: {exc.strerror or exc}") from exc

    def _write_session_info(self) -> None:
        data = self._yaml_bytes(self._session)
        self._file.seek(self._info_offset)
        self._file.write(data + bytes(self._info_len - len(data)))

    def _write_headers(self) -> None:
        header = Header(
            version=IBT_VERSION,
            status=STATUS_CONNECTED,
            tick_rate=self.tick_rate_hz,
            session_info_update=self._update_count,
            session_info_len=self._info_len,
            session_info_offset=self._info_offset,
            num_vars=len(self._var_headers),
            var_header_offset=HEADER_SIZE + DISK_SUB_HEADER_SIZE,
            num_buf=1,
            buf_len=self._buf_len,
            var_bufs=(VarBuf(self._last_tick, self._records_offset),),
        )
        disk = DiskSubHeader(
            session_start_date=self._started_at,
            session_start_time_s=self._first_time_s if self._first_time_s is not None else 0.0,
            session_end_time_s=self._last_time_s if self._last_time_s is not None else 0.0,
            lap_count=len(self._laps),
            record_count=self._flushed,
        )
        self._file.seek(0)
        self._file.write(header.pack() + disk.pack())
        self._file.flush()
        if self.durable:
            os.fsync(self._file.fileno())

    # ---------------------------------------------------------------- encoding

    def _note(self, block: FrameBlock) -> None:
        """Keep what the disk header summarises: first and last session time, laps, last tick."""
        # The disk header counts flushed records only; times and laps may run a flush ahead, which
        # readers do not rely on (they take the record count).
        times = block.session_time_s
        if self._first_time_s is None:
            self._first_time_s = float(times[0])
        self._last_time_s = float(times[-1])
        self._last_tick = int(block.tick[-1])
        laps = block.lap[block.in_world & (block.lap >= 0)]
        self._laps.update(int(lap) for lap in np.unique(laps))

    def _records(self, block: FrameBlock) -> bytes:
        """The block as `.ibt` records: each channel under the variable the decoder reads it from."""
        assert self._dtype is not None
        frames = block.frames
        records = np.zeros(len(frames), dtype=self._dtype)
        for var in _PLAYER_VARS:
            values = frames[var.channel] if var.corner is None else frames[var.channel][:, var.corner]
            records[var.name] = var.convert(values) if var.convert is not None else values
        records["SessionNum"] = self._session.session_num
        records["PlayerCarIdx"] = self._session.player_car_idx
        records["FuelUsePerHour"] = frames["fuel_use_rate_lps"] * (self._density * 3600.0)
        lat, lon = frames["latitude_deg"], frames["longitude_deg"]
        nowhere = ~(np.isfinite(lat) & np.isfinite(lon))
        records["Lat"] = np.where(nowhere, 0.0, lat)
        records["Lon"] = np.where(nowhere, 0.0, lon)
        # in_world is what the decoder derives from the surface: out of the world -> -1; an in-world frame
        # with no surface gets the decoder's own fallback for files without one.
        surface = frames["track_surface"].astype(np.int32)
        fallback = np.where(frames["on_pit_road"], TrackSurface.APPROACHING_PITS, TrackSurface.ON_TRACK)
        surface = np.where(surface == TrackSurface.NOT_IN_WORLD, fallback, surface)
        records["PlayerTrackSurface"] = np.where(frames["in_world"], surface, TrackSurface.NOT_IN_WORLD)
        if self._cars:
            cars = block.cars if block.cars is not None else empty_cars(len(frames))
            for var in _CAR_VARS:
                values = cars[var.channel]
                records[var.name] = var.convert(values) if var.convert is not None else values
        return records.tobytes()


def decoder_sources(*, cars: bool) -> tuple[str, ...]:
    """The variables `ChannelDecoder` reads from a recording (a check that the tables agree)."""
    return ChannelDecoder(variable_table(cars=cars)[0]).sources


# --------------------------------------------------------------------------- relay convenience


def record_batches(
    batches: Iterable[TelemetryBatch | bytes],
    path: Path,
    session: SessionInfo | Mapping[str, Any],
    *,
    car_id: int | None = None,
    tick_rate_hz: int = 60,
) -> int:
    """Record one car's telemetry batches (decoded, or as the binary batches the spool holds) to `path`.

    `car_id`: the car to record (other cars' batches are skipped); None: every batch must be of one
    car. A batch whose seq was already recorded (a resend) is skipped. Returns the records written.
    Raises RecorderError for an undecodable batch or batches of several cars without `car_id`.
    """
    seen: set[int] = set()
    recorded_car = car_id
    with SessionRecorder(path, session, tick_rate_hz) as recorder:
        for item in batches:
            if isinstance(item, TelemetryBatch):
                batch = item
            else:
                try:
                    batch = decode_batch(bytes(item))
                except (ProtocolError, ValueError) as exc:
                    raise RecorderError(f"cannot decode a telemetry batch: {exc}") from exc
            if recorded_car is None:
                recorded_car = batch.car_id
            if batch.car_id != recorded_car:
                if car_id is not None:
                    continue
                raise RecorderError(
                    f"batches of several cars ({recorded_car} and {batch.car_id}): pass car_id to pick one"
                )
            if batch.seq in seen:
                continue
            seen.add(batch.seq)
            recorder.write(batch.block)
        return recorder.record_count
