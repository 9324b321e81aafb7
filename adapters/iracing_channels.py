"""Mapping of iRacing telemetry variables onto the canonical channels, vectorised over records.

The live adapter (one record per tick) and the `.ibt` reader (every record of a file at once) both
call `ChannelDecoder.decode`, so a channel means exactly the same thing whichever way it was read.
A decoder is built once per variable table: it resolves which iRacing variables exist (old files
lack many) and what each canonical channel is computed from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.irsdk_layout import VarHeader
from adapters.model import CAR_DTYPE, MAX_CARS, TYRES, FrameBlock, TrackSurface, empty_cars, empty_frames

Array = npt.NDArray[Any]

PIT_LIMITER_BIT: Final = 0x0010  # irsdk EngineWarnings.pit_speed_limiter
UNLIMITED_LAPS: Final = 32767  # what iRacing reports for a session without a lap limit
UNLIMITED_TIME_S: Final = 604800.0  # what iRacing reports for a session without a time limit


def _first(names: set[str], *candidates: str) -> str | None:
    for name in candidates:
        if name in names:
            return name
    return None


def _scalar(raw: Array, name: str) -> Array:
    """A per-record value; 360 Hz sub-sampled arrays (count 6) are averaged to the 60 Hz tick."""
    column = raw[name]
    if column.ndim == 2:
        return column.mean(axis=1) if column.dtype.kind == "f" else column[:, -1]
    return column


def _positive_or_nan(values: Array) -> Array:
    """iRacing writes -1 or 0 for 'no lap time'."""
    out = values.astype(np.float32, copy=True)
    out[out <= 0] = np.nan
    return out


@dataclass(frozen=True, slots=True)
class _Rule:
    target: str
    sources: tuple[str, ...]
    convert: Callable[[Array], Array] | None = None


_SIMPLE: Final[tuple[_Rule, ...]] = (
    _Rule("session_time_s", ("SessionTime",)),
    _Rule("is_on_track", ("IsOnTrack",)),
    _Rule("lap", ("Lap",)),
    _Rule("lap_completed", ("LapCompleted",)),
    _Rule("lap_dist_m", ("LapDist",)),
    _Rule("lap_dist_frac", ("LapDistPct",)),
    _Rule("speed_mps", ("Speed",)),
    _Rule("rpm", ("RPM",)),
    _Rule("gear", ("Gear",)),
    _Rule("throttle", ("Throttle",)),
    _Rule("brake", ("Brake",)),
    # iRacing's Clutch is 1 when fully engaged, i.e. the pedal released.
    _Rule("clutch", ("Clutch",), lambda v: 1.0 - v),
    _Rule("steering_angle_rad", ("SteeringWheelAngle",)),
    _Rule("lat_accel_mps2", ("LatAccel",)),
    _Rule("long_accel_mps2", ("LongAccel",)),
    _Rule("yaw_rate_radps", ("YawRate",)),
    _Rule("altitude_m", ("Alt",)),
    _Rule("fuel_level_l", ("FuelLevel",)),
    _Rule("on_pit_road", ("OnPitRoad",)),
    _Rule("pit_limiter", ("EngineWarnings",), lambda v: (v.astype(np.uint32) & PIT_LIMITER_BIT) != 0),
    _Rule("session_flags", ("SessionFlags",)),
    _Rule("session_state", ("SessionState",)),
    _Rule(
        "session_time_remain_s",
        ("SessionTimeRemain",),
        lambda v: np.where((v < 0) | (v >= UNLIMITED_TIME_S), np.nan, v),
    ),
    _Rule(
        "session_laps_remain",
        ("SessionLapsRemainEx", "SessionLapsRemain"),
        lambda v: np.where((v < 0) | (v >= UNLIMITED_LAPS), -1, v),
    ),
    _Rule("car_left_right", ("CarLeftRight",)),
    _Rule("incident_count", ("PlayerCarMyIncidentCount", "PlayerCarDriverIncidentCount", "PlayerIncidents")),
    _Rule("position", ("PlayerCarPosition",)),
    _Rule("class_position", ("PlayerCarClassPosition",)),
    _Rule("last_lap_time_s", ("LapLastLapTime",), _positive_or_nan),
    _Rule("best_lap_time_s", ("LapBestLapTime",), _positive_or_nan),
    _Rule("current_lap_time_s", ("LapCurrentLapTime",)),
    _Rule("track_temp_c", ("TrackTempCrew", "TrackTemp")),
    _Rule("air_temp_c", ("AirTemp",)),
)

_CAR_RULES: Final[tuple[_Rule, ...]] = (
    _Rule("lap_dist_frac", ("CarIdxLapDistPct",)),
    _Rule("lap", ("CarIdxLap",)),
    _Rule("lap_completed", ("CarIdxLapCompleted",)),
    _Rule("position", ("CarIdxPosition",)),
    _Rule("class_position", ("CarIdxClassPosition",)),
    _Rule("class_id", ("CarIdxClass",)),
    _Rule("on_pit_road", ("CarIdxOnPitRoad",)),
    _Rule("track_surface", ("CarIdxTrackSurface",)),
    _Rule("last_lap_time_s", ("CarIdxLastLapTime",), _positive_or_nan),
    _Rule("best_lap_time_s", ("CarIdxBestLapTime",), _positive_or_nan),
    _Rule("est_time_s", ("CarIdxEstTime",)),
)

_TYRE_PREFIX: Final = {"lf": "LF", "rf": "RF", "lr": "LR", "rr": "RR"}


class ChannelDecoder:
    """Turns raw iRacing records (a structured array from `irsdk_layout.record_dtype`) into frames."""

    def __init__(self, var_headers: tuple[VarHeader, ...], fuel_density_kg_per_l: float = 0.75) -> None:
        counts = {v.name: v.count for v in var_headers if v.type != 0}
        names = set(counts)
        self.available = frozenset(names)
        self.fuel_density_kg_per_l = fuel_density_kg_per_l if fuel_density_kg_per_l > 0 else 0.75
        self._rules = [(rule, source) for rule in _SIMPLE if (source := _first(names, *rule.sources)) is not None]
        self._car_rules = [
            (rule, source)
            for rule in _CAR_RULES
            if (source := _first(names, *rule.sources)) is not None and counts[source] >= MAX_CARS
        ]
        self._fuel_use = _first(names, "FuelUsePerHour")
        self._surface = _first(names, "PlayerTrackSurface")
        self._session_tick = _first(names, "SessionTick")
        self._tyres = {
            corner: {
                key: [f"{_TYRE_PREFIX[corner]}{key}{zone}" for zone in ("L", "M", "R")]
                for key in ("temp", "tempC", "wear")
            }
            for corner in TYRES
        }
        self._pressure = {corner: f"{_TYRE_PREFIX[corner]}pressure" for corner in TYRES}
        self._has = names

    @property
    def sources(self) -> tuple[str, ...]:
        """Every iRacing variable this decoder reads, in a stable order."""
        names = [source for _, source in self._rules] + [source for _, source in self._car_rules]
        for optional in (self._fuel_use, self._surface, self._session_tick):
            if optional is not None:
                names.append(optional)
        if "Lat" in self._has and "Lon" in self._has:
            names += ["Lat", "Lon"]
        for corner in TYRES:
            for zones in self._tyres[corner].values():
                names += [z for z in zones if z in self._has]
            if self._pressure[corner] in self._has:
                names.append(self._pressure[corner])
        return tuple(dict.fromkeys(names))

    @property
    def has_cars(self) -> bool:
        """Whether these records carry the per-car (CarIdx) arrays."""
        return bool(self._car_rules)

    def decode(self, raw: Array, ticks: Array | None = None) -> FrameBlock:
        """Decode N raw records. `ticks` are the sim's tick counts when known (live), else derived."""
        count = len(raw)
        frames = empty_frames(count)
        for rule, source in self._rules:
            values = _scalar(raw, source)
            frames[rule.target] = rule.convert(values) if rule.convert is not None else values

        if self._fuel_use is not None:
            kg_per_hour = _scalar(raw, self._fuel_use)
            frames["fuel_use_rate_lps"] = kg_per_hour / (self.fuel_density_kg_per_l * 3600.0)

        if "Lat" in self._has and "Lon" in self._has:
            lat = raw["Lat"]
            lon = raw["Lon"]
            nowhere = (lat == 0) & (lon == 0)
            frames["latitude_deg"] = np.where(nowhere, np.nan, lat)
            frames["longitude_deg"] = np.where(nowhere, np.nan, lon)

        for corner_index, corner in enumerate(TYRES):
            zones = self._tyres[corner]
            for key, target in (("temp", "tyre_temp_c"), ("tempC", "tyre_carcass_temp_c")):
                if all(z in self._has for z in zones[key]):
                    frames[target][:, corner_index] = np.mean([raw[z] for z in zones[key]], axis=0)
            if all(z in self._has for z in zones["wear"]):
                frames["tyre_wear_frac"][:, corner_index] = np.min([raw[z] for z in zones["wear"]], axis=0)
            if self._pressure[corner] in self._has:
                frames["tyre_pressure_kpa"][:, corner_index] = raw[self._pressure[corner]]

        if ticks is not None:
            frames["tick"] = ticks
        elif self._session_tick is not None:
            frames["tick"] = raw[self._session_tick]
        else:
            # Old files have no tick counter: derive it from the session clock and the 60 Hz rate.
            frames["tick"] = np.rint(frames["session_time_s"] * 60.0).astype(np.int64)

        self._classify_world(raw, frames)
        self._clean_floats(frames)
        cars = self._decode_cars(raw) if self._car_rules else None
        return FrameBlock(frames, cars)

    def _classify_world(self, raw: Array, frames: Array) -> None:
        if self._surface is not None:
            surface = raw[self._surface].astype(np.int8)
            in_world = surface != TrackSurface.NOT_IN_WORLD
        else:
            # 2015-era files have no PlayerTrackSurface: a "not in world" record is all zeros where
            # the position and lap should be. Derive the surface from what the file does have.
            zeroed = (frames["lap"] == 0) & (frames["lap_dist_frac"] == 0)
            if "Lat" in self._has:
                zeroed &= (raw["Lat"] == 0) & (raw["Lon"] == 0)
            in_world = ~zeroed
            surface = np.where(
                in_world,
                np.where(frames["on_pit_road"], TrackSurface.APPROACHING_PITS, TrackSurface.ON_TRACK),
                TrackSurface.NOT_IN_WORLD,
            ).astype(np.int8)
        frames["track_surface"] = surface
        frames["in_world"] = in_world

    @staticmethod
    def _clean_floats(frames: Array) -> None:
        """Turn iRacing's -0.0 into 0.0, so printed and serialised values are stable."""
        names = frames.dtype.names or ()
        for name in names:
            column = frames[name]
            if column.dtype.kind == "f":
                column += 0.0  # IEEE: -0.0 + 0.0 == +0.0; NaN and every other value unchanged

    def _decode_cars(self, raw: Array) -> Array:
        cars = empty_cars(len(raw))
        for rule, source in self._car_rules:
            values = raw[source][:, :MAX_CARS]
            cars[rule.target] = rule.convert(values) if rule.convert is not None else values
        for name in CAR_DTYPE.names or ():
            column = cars[name]
            if column.dtype.kind == "f":
                column += 0.0
        return cars
